/**
 * The reloader with the real compiler, the real runtime state (file blob store, hosted repository)
 * and real listeners on loopback: valid changes swap, invalid ones keep the old plan serving, a
 * port that cannot bind aborts the reload, the watcher and imported modules trigger it, and
 * concurrent triggers collapse into one follow-up.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../runtime/server/log.ts';
import { type RunningServer, serve } from '../../../runtime/server/serve.ts';
import { freePort } from '../../helpers/free-port.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCHEMA = JSON.stringify(join(ROOT, 'schema/index.ts'));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const silent = createLogger({ env: { LOG_LEVEL: 'silent' } });

interface Shape {
  repos: string[];
  port: number;
  extraPort?: number;
}

function configText({ repos, port, extraPort }: Shape): string {
  const repositories = repos
    .map((name) => `{ name: '${name}', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }`)
    .join(',\n    ');
  const listeners = [
    `{ host: '127.0.0.1', port: ${port}, repository: '${repos[0]}', paths: ${JSON.stringify(repos.slice(1))} }`,
    ...(extraPort ? [`{ host: '127.0.0.1', port: ${extraPort}, repository: '${repos[0]}' }`] : []),
  ].join(',\n    ');
  return `import { defineConfig } from ${SCHEMA};
import { storePath } from './store.ts';
export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: storePath }],
  repositories: [
    ${repositories}
  ],
  listeners: [
    ${listeners}
  ],
});
`;
}

/** Rename-replacement, as git and git-sync do it. */
async function replace(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, text);
  await rename(temp, file);
}

async function start(shape: Shape): Promise<{ server: RunningServer; dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'registry.config.ts');
  await writeFile(join(dir, 'store.ts'), `export const storePath = './data';\n`);
  await writeFile(file, configText(shape));
  const server = await serve({ configPath: file, watch: true, env: {}, log: silent, handleSignals: false });
  cleanups.push(() => server.close());
  return { server, dir, file };
}

async function status(port: number, path = '/v2/'): Promise<number> {
  const res = await request(`http://127.0.0.1:${port}${path}`);
  await res.body.dump();
  return res.statusCode;
}

/** Waits until `predicate` holds (bounded). */
async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

describe('Reloader', () => {
  it('swaps on a valid change seen by the watcher, serves a new repository, records the diff', async () => {
    const port = await freePort();
    const { server, file } = await start({ repos: ['private'], port });
    const first = server.plan.id;
    expect(await status(port, '/v2/extra/img/tags/list')).not.toBe(200);
    await replace(file, configText({ repos: ['private', 'extra'], port }));
    await until(() => server.plan.id !== first);
    expect(server.holder.lastReload).toMatchObject({ ok: true, previousPlanId: first, planId: server.plan.id });
    expect(server.holder.lastReload.diff).toContain('+ repository extra');
    // The new repository answers (an empty repository: unknown name, not an unknown route).
    const res = await request(`http://127.0.0.1:${port}/v2/extra/img/blobs/uploads/`, { method: 'POST' });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
  });

  it('rejects an invalid config and keeps the old plan serving, with the error in the record', async () => {
    const port = await freePort();
    const { server, file } = await start({ repos: ['private'], port });
    const first = server.plan.id;
    await replace(file, configText({ repos: ['private'], port }).replace("type: 'hosted'", "type: 'hostd'"));
    await until(() => server.holder.lastReload.ok === false);
    expect(server.plan.id).toBe(first);
    expect(server.holder.lastReload.error).toMatch(/config invalid/);
    expect(await status(port)).toBe(200);
    // Fixing the file recovers.
    await replace(file, configText({ repos: ['private', 'again'], port }));
    await until(() => server.holder.lastReload.ok && server.plan.id !== first);
  });

  it('an edit to an imported module reloads; an unchanged plan is a no-op', async () => {
    const port = await freePort();
    const { server, dir } = await start({ repos: ['private'], port });
    const first = server.plan.id;
    await replace(join(dir, 'store.ts'), `export const storePath = './data2';\n`);
    await until(() => server.plan.id !== first);
    expect(server.holder.lastReload.diff).toMatch(/warning: blob store default moved/);
    const count = server.reloader.count;
    await server.reloader.trigger('by hand');
    expect(server.reloader.count).toBe(count + 1);
    expect(server.plan.id).not.toBe(first);
  });

  it('a port that cannot bind aborts the reload: nothing half-applied', async () => {
    const port = await freePort();
    const { server, file } = await start({ repos: ['private'], port });
    const first = server.plan.id;
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    const taken = (blocker.address() as { port: number }).port;
    await replace(file, configText({ repos: ['private', 'extra'], port, extraPort: taken }));
    await until(() => server.holder.lastReload.ok === false);
    expect(server.plan.id).toBe(first);
    expect(server.holder.lastReload.error).toMatch(/reload aborted/);
    expect(server.listeners.listeners.map((l) => l.id)).toEqual([`127.0.0.1:${port}`]);
    expect(await status(port, '/v2/extra/img/tags/list')).not.toBe(200);
  });

  it('moves a listener: the new port opens, the old one closes, a warning says so', async () => {
    const port = await freePort();
    const moved = await freePort();
    const { server, file } = await start({ repos: ['private'], port });
    await replace(file, configText({ repos: ['private'], port: moved }));
    await until(() => server.plan.listeners[0]?.port === moved);
    expect(await status(moved)).toBe(200);
    await until(async () => (await status(port).catch(() => 0)) === 0);
    expect(server.holder.lastReload.diff).toMatch(/warning: listener 127\.0\.0\.1:\d+ moved to port/);
  });

  it('serialises: triggers during a reload cause exactly one more attempt', async () => {
    const port = await freePort();
    const { server } = await start({ repos: ['private'], port });
    const before = server.reloader.count;
    const running = server.reloader.trigger('one');
    for (let i = 0; i < 5; i += 1) void server.reloader.trigger(`burst ${i}`);
    await running;
    await until(() => server.reloader.count === before + 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.reloader.count).toBe(before + 2);
  });
});
