/**
 * A proxy's `prefetch`: inline images and a list file (relative to the config) compile to parsed
 * references and milliseconds; a bad reference, an unreadable or empty file and a non-positive
 * interval are errors at their exact paths; a changed list file is a changed plan.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan, checkConfig } from '../../compiler/index.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

const proxy = (prefetch: unknown) => ({
  repositories: [
    { name: 'local', type: 'hosted' },
    { name: 'hub', type: 'proxy', remote: { url: 'https://registry-1.docker.io' }, prefetch },
  ],
});

/** Writes `config` as JSON (and `files`) into a fresh folder and builds it. */
async function build(config: unknown, files: Record<string, string> = {}) {
  const dir = await dirs.make('regctl-prefetch-config-');
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const configPath = join(dir, 'registry.config.json');
  await writeFile(configPath, JSON.stringify(config));
  return { dir, result: await buildPlan({ configPath }) };
}

const errorsOf = (diagnostics: readonly { severity: string; path: readonly unknown[]; message: string }[]) =>
  diagnostics.filter((d) => d.severity === 'error').map(({ path, message }) => ({ path, message }));

describe('prefetch in the plan', () => {
  it('compiles inline images (each once) and the default interval', async () => {
    const { result } = await build(
      proxy({ images: ['library/alpine:3.20', 'alpine', 'a/b@sha256:' + 'a'.repeat(64), 'alpine'] }),
    );
    expect(result.ok).toBe(true);
    const hub = result.ok ? result.plan.repositories.hub : undefined;
    expect(hub?.type === 'proxy' && hub.prefetch).toEqual({
      images: [
        { name: 'library/alpine', reference: '3.20' },
        { name: 'alpine', reference: 'latest' },
        { name: 'a/b', reference: `sha256:${'a'.repeat(64)}` },
      ],
      intervalMs: 6 * 3_600_000,
    });
  });

  it('reads a list file relative to the config, watches it, and its content is part of the plan', async () => {
    const config = proxy({ images: { file: 'images.txt' }, interval: '30m' });
    const a = await build(config, { 'images.txt': '# warm\nlibrary/alpine:3.20\n\nlibrary/busybox # tools\n' });
    expect(a.result.ok).toBe(true);
    if (!a.result.ok) return;
    const hub = a.result.plan.repositories.hub;
    expect(hub?.type === 'proxy' && hub.prefetch).toEqual({
      images: [
        { name: 'library/alpine', reference: '3.20' },
        { name: 'library/busybox', reference: 'latest' },
      ],
      intervalMs: 1_800_000,
      file: join(a.dir, 'images.txt'),
    });
    expect(a.result.files).toContain(join(a.dir, 'images.txt'));
    const b = await build(config, { 'images.txt': 'library/alpine:3.21\n' });
    expect(b.result.ok && b.result.plan.id).not.toBe(a.result.plan.id);
  });

  it('reports bad references, unreadable and empty files and a zero interval at their paths', async () => {
    const inline = await build(proxy({ images: ['library/alpine:3.20', 'Library/Alpine', 'x:bad tag'] }));
    expect(errorsOf(inline.result.diagnostics)).toEqual([
      {
        path: ['repositories', 1, 'prefetch', 'images', 1],
        message:
          'prefetch image "Library/Alpine": "Library/Alpine" is not a repository name (lower case, [a-z0-9._-] and /)',
      },
      {
        path: ['repositories', 1, 'prefetch', 'images', 2],
        message: 'prefetch image "x:bad tag": "bad tag" is neither a tag nor a sha256/sha512 digest',
      },
    ]);
    const file = ['repositories', 1, 'prefetch', 'images', 'file'];
    const missing = await build(proxy({ images: { file: 'nope.txt' } }));
    expect(errorsOf(missing.result.diagnostics)).toEqual([
      { path: file, message: 'cannot read the prefetch list nope.txt: no such file' },
    ]);
    const bad = await build(proxy({ images: { file: 'images.txt' } }), { 'images.txt': 'ok/image:1\nBAD\n' });
    expect(errorsOf(bad.result.diagnostics)).toEqual([
      { path: file, message: 'images.txt line 2: "BAD" is not a repository name (lower case, [a-z0-9._-] and /)' },
    ]);
    const empty = await build(proxy({ images: { file: 'images.txt' } }), { 'images.txt': '# nothing yet\n' });
    expect(errorsOf(empty.result.diagnostics)).toEqual([
      { path: file, message: 'the prefetch list images.txt names no image' },
    ]);
    expect(errorsOf(checkConfig(proxy({ images: ['a'], interval: '0s' })).diagnostics)).toEqual([
      { path: ['repositories', 1, 'prefetch', 'interval'], message: 'must be longer than 0' },
    ]);
    expect(errorsOf(checkConfig(proxy({ images: [] })).diagnostics)).toEqual([
      { path: ['repositories', 1, 'prefetch', 'images'], message: expect.stringContaining('at least one image') },
    ]);
  });
});
