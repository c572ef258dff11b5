import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigWatcher } from '../../../runtime/reload/config-watcher.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The mode under test (see the describe.each below). */
let usePolling = false;

async function setup(debounceMs = 50) {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-watch-'));
  const config = join(dir, 'registry.config.ts');
  const imported = join(dir, 'repos.ts');
  await writeFile(config, 'export default {}\n');
  await writeFile(imported, 'export const a = 1\n');
  const { batches, watcher } = await startWatcher(dir, [config, imported], { debounceMs });
  return { dir, config, imported, batches, watcher };
}

/** A watcher in the mode under test, collecting its batches; closed and `root` removed after the test. */
async function startWatcher(
  root: string,
  files: string[],
  options: { debounceMs?: number; symlinkCheckMs?: number; pollIntervalMs?: number } = {},
) {
  const batches: string[][] = [];
  const watcher = new ConfigWatcher({
    files,
    debounceMs: 50,
    pollIntervalMs: 50,
    ...options,
    usePolling,
    onChange: (paths) => batches.push(paths),
  });
  await watcher.ready();
  cleanups.push(async () => {
    await watcher.close();
    await rm(root, { recursive: true, force: true });
  });
  return { batches, watcher };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting for a change notification');
    await settle(20);
  }
}

describe.each([
  ['kernel notifications', false],
  ['polling', true],
])('ConfigWatcher with %s', (_mode, polling) => {
  beforeEach(() => {
    usePolling = polling;
  });

  it('reports an in-place edit of the config', async () => {
    const { config, batches } = await setup();
    await writeFile(config, 'export default { changed: true }\n');
    await waitFor(() => batches.length > 0);
    expect(batches).toEqual([[config]]);
  });

  it('reports a rename-style replacement (as git checkout does) exactly once', async () => {
    const { dir, config, batches } = await setup();
    const temp = join(dir, '.registry.config.ts.tmp');
    await writeFile(temp, 'export default { replaced: true }\n');
    await rename(temp, config);
    await waitFor(() => batches.length > 0);
    await settle(300);
    expect(batches).toEqual([[config]]);
    // The watch survives the replacement: a second replacement is seen too.
    await writeFile(temp, 'export default { again: true }\n');
    await rename(temp, config);
    await waitFor(() => batches.length > 1);
    expect(batches[1]).toEqual([config]);
  });

  it('reports an edit of an imported module', async () => {
    const { imported, batches } = await setup();
    await writeFile(imported, 'export const a = 2\n');
    await waitFor(() => batches.length > 0);
    expect(batches).toEqual([[imported]]);
  });

  it('folds a burst of writes into one notification', async () => {
    const { config, imported, batches } = await setup(150);
    for (let i = 0; i < 5; i++) {
      await writeFile(config, `export default { i: ${i} }\n`);
      await writeFile(imported, `export const a = ${i}\n`);
    }
    await waitFor(() => batches.length > 0);
    await settle(400);
    expect(batches).toEqual([[imported, config].sort()]);
  });

  it('ignores other files in the same folder and follows setFiles', async () => {
    const { dir, config, imported, batches, watcher } = await setup();
    await writeFile(join(dir, 'README.md'), 'unrelated\n');
    await settle(300);
    expect(batches).toEqual([]);
    watcher.setFiles([config]);
    await writeFile(imported, 'export const a = 3\n');
    await settle(300);
    expect(batches).toEqual([]);
    await writeFile(config, 'export default { b: 1 }\n');
    await waitFor(() => batches.length > 0);
    expect(batches).toEqual([[config]]);
  });

  it('starts on a folder that does not exist yet, and watches it once setFiles names it again', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-watch-missing-'));
    const config = join(root, 'later', 'registry.config.ts');
    const { batches, watcher } = await startWatcher(root, [config]);
    await mkdir(join(root, 'later'));
    await writeFile(config, 'export default {}\n');
    watcher.setFiles([]);
    watcher.setFiles([config]);
    await watcher.ready();
    await settle(200);
    batches.length = 0;
    await writeFile(config, 'export default { edited: true }\n');
    await waitFor(() => batches.length > 0);
    expect(batches).toEqual([[config]]);
  });

  it('watches a config folder again after it was deleted and made anew', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-watch-again-'));
    const dir = join(root, 'config');
    const config = join(dir, 'registry.config.ts');
    await mkdir(dir);
    await writeFile(config, 'export default { rev: 1 }\n');
    const { batches } = await startWatcher(root, [config], { symlinkCheckMs: 100 });
    await rm(dir, { recursive: true, force: true });
    await settle(300); // the folder check sees it gone
    await mkdir(dir);
    await writeFile(config, 'export default { rev: 2 }\n');
    await waitFor(() => batches.some((batch) => batch.includes(config)));
    const seen = batches.length;
    await settle(300);
    await writeFile(config, 'export default { rev: 3 }\n'); // an edit in the new folder is seen too
    await waitFor(() => batches.length > seen);
    expect(batches.at(-1)).toEqual([config]);
    // Deleted and made again between two checks: the same path, another folder (inode).
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(config, 'export default { rev: 4 }\n');
    await settle(400);
    const before = batches.length;
    await writeFile(config, 'export default { rev: 5 }\n');
    await waitFor(() => batches.length > before);
    expect(batches.at(-1)).toEqual([config]);
  });

  it('sees a git-sync style symlink swap of the config folder, and edits in the new target after it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-watch-link-'));
    for (const name of ['rev1', 'rev2']) {
      await mkdir(join(root, name));
      await writeFile(join(root, name, 'registry.config.ts'), `export default { rev: '${name}' }\n`);
    }
    await symlink(join(root, 'rev1'), join(root, 'current'));
    const config = join(root, 'current', 'registry.config.ts');
    const { batches } = await startWatcher(root, [config], { symlinkCheckMs: 100 });
    await symlink(join(root, 'rev2'), join(root, 'next'));
    await rename(join(root, 'next'), join(root, 'current'));
    await waitFor(() => batches.length > 0);
    await settle(300);
    expect(batches).toEqual([[config]]);
    await writeFile(join(root, 'rev2', 'registry.config.ts'), 'export default { edited: true }\n');
    await waitFor(() => batches.length > 1);
    expect(batches[1]).toEqual([config]);
  });
});

describe('ConfigWatcher folder check', () => {
  it('finds a folder deleted and made again between two checks (same path, and on ext4 often the same inode number)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-watch-recreate-'));
    const dir = join(root, 'config');
    const config = join(dir, 'registry.config.ts');
    await mkdir(dir);
    await writeFile(config, 'export default { rev: 1 }\n');
    // Polling slowed to a minute, so that only the folder check can report the new folder.
    usePolling = true;
    const { batches } = await startWatcher(root, [config], { pollIntervalMs: 60_000, symlinkCheckMs: 50 });
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(config, 'export default { rev: 2 }\n');
    await waitFor(() => batches.length > 0, 2000);
    expect(batches).toEqual([[config]]);
  });
});
