/**
 * Hot reload end to end: `regctl serve` (child process, --watch by default) on a temp config while
 * a client keeps pushing and pulling on loopback, and the config is rewritten 20 times by
 * rename-replacement (repositories added and removed, a listener moved, a group's members
 * reordered, an imported module edited, one invalid config). Requests the new config still allows
 * never fail; new repositories answer right after their reload; moved listeners close; the invalid
 * config is rejected while the old plan serves; a chunked upload spans a reload; SIGHUP reloads.
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { sha256 } from '../helpers/oci-image.ts';
import { REPO_ROOT, type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { finishUpload, patchChunk, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const SCHEMA = JSON.stringify(join(REPO_ROOT, 'schema', 'index.ts'));
const tmp = new TmpDirs();

interface Step {
  extras: string[];
  extraPort: number;
  reversed: boolean;
  invalid?: boolean;
}

function configText(mainPort: number, step: Step): string {
  const extras = step.extras.map(
    (name) => `{ name: '${name}', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }`,
  );
  const members = step.reversed ? ['extra0', 'private'] : ['private', 'extra0'];
  return `import { defineConfig } from ${SCHEMA};
import { anonymous } from './access.ts';
export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    { name: 'private', type: 'hosted', anonymous },
    { name: 'extra0', type: 'hosted', anonymous },
    { name: 'all', type: '${step.invalid ? 'grop' : 'group'}', members: ${JSON.stringify(members)}, writableMember: 'private', anonymous: ['pull'] },
    ${extras.join(',\n    ')}
  ],
  listeners: [
    { host: '127.0.0.1', port: ${mainPort}, repository: 'private', paths: ${JSON.stringify(['all', 'extra0', ...step.extras])} },
    { host: '127.0.0.1', port: ${step.extraPort}, repository: 'all' },
  ],
});
`;
}

async function replace(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

interface Status {
  planId: string;
  lastReload: { ok: boolean; planId: string; error?: string; diff?: string; at: string };
}

async function getStatus(url: string): Promise<Status> {
  const res = await fetch(`${url}/-/status`);
  return (await res.json()) as Status;
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}

/** Push one small blob monolithically and read it back; returns the failure, if any. */
async function pushPull(url: string, name: string, i: number): Promise<string | undefined> {
  const data = Buffer.from(`blob ${i} ${randomBytes(8).toString('hex')}`);
  const digest = sha256(data);
  const post = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
  });
  await post.arrayBuffer();
  if (post.status !== 201) return `push ${i}: ${post.status}`;
  const get = await fetch(`${url}/v2/${name}/blobs/${digest}`);
  const body = Buffer.from(await get.arrayBuffer());
  if (get.status !== 200 || sha256(body) !== digest) return `pull ${i}: ${get.status}`;
  return undefined;
}

function countLines(log: string, message: string): number {
  return log.split('\n').filter((line) => line.includes(`"msg":"${message}"`)).length;
}

describe('hot reload under traffic', () => {
  let server: RegctlServer;
  let dir: string;
  let mainPort: number;
  let configFile: string;

  beforeAll(async () => {
    dir = await tmp.make('regctl-reload-e2e-');
    mainPort = await freePort();
    configFile = join(dir, 'registry.config.ts');
    await writeFile(join(dir, 'access.ts'), `export const anonymous = ['pull', 'push', 'delete'] as const;\n`);
    await writeFile(configFile, configText(mainPort, { extras: [], extraPort: await freePort(), reversed: false }));
    server = await startRegctl({ dir, configFile, ports: [mainPort], env: { LOG_LEVEL: 'info' } });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await tmp.cleanup();
  });

  it('20 rewrites while a client pushes and pulls: no failed request, each change applied or rejected', async () => {
    const url = `http://127.0.0.1:${mainPort}`;
    const failures: string[] = [];
    let stop = false;
    let requests = 0;
    const client = (async () => {
      for (let i = 0; i < 5000 && !stop; i += 1) {
        const failure = await pushPull(url, 'private', i).catch((error: unknown) => `request ${i}: ${String(error)}`);
        requests += 1;
        if (failure) failures.push(failure);
      }
    })();

    // A chunked upload whose first chunk lands before the first reload and the rest after it.
    const chunk1 = randomBytes(64 * 1024);
    const chunk2 = randomBytes(64 * 1024);
    const upload = await startUpload(url, 'private');
    const first = await patchChunk(url, upload, chunk1, 0);
    expect(first.status).toBe(202);

    let extraPort = 0;
    const applied: string[] = [];
    let previousPlan = (await getStatus(url)).planId;
    let rejected = 0;
    for (let n = 1; n <= 20; n += 1) {
      const invalid = n === 10;
      const oldExtraPort = extraPort;
      if (n % 5 === 0 || n === 1) extraPort = await freePort();
      const step: Step = {
        extras: Array.from({ length: n % 4 }, (_, k) => `r${n}x${k}`),
        extraPort: extraPort || (await freePort()),
        reversed: n % 2 === 0,
        invalid,
      };
      extraPort = step.extraPort;
      const before = (await getStatus(url)).lastReload.at;
      if (n === 7) {
        // An edit to an imported module only (the config file is untouched this time).
        await replace(join(dir, 'access.ts'), `export const anonymous = ['pull', 'push'] as const;\n`);
        const status = await until(async () => {
          const s = await getStatus(url);
          return s.lastReload.at !== before ? s : undefined;
        });
        expect(status.lastReload.ok).toBe(true);
        continue;
      }
      await replace(configFile, configText(mainPort, step));
      const status = await until(async () => {
        const s = await getStatus(url);
        return s.lastReload.at !== before ? s : undefined;
      });
      if (invalid) {
        rejected += 1;
        expect(status.lastReload.ok).toBe(false);
        expect(status.lastReload.error).toMatch(/config invalid/);
        expect(status.planId).toBe(previousPlan);
        expect(await pushPull(url, 'private', -1)).toBeUndefined();
        continue;
      }
      expect(status.lastReload.ok, status.lastReload.error).toBe(true);
      expect(status.planId).not.toBe(previousPlan);
      previousPlan = status.planId;
      applied.push(status.planId);
      // New repositories answer right after the reload.
      for (const name of step.extras) expect(await pushPull(url, name, n), name).toBeUndefined();
      // The group's listener is on its (possibly new) port; a moved-away port is closed.
      const res = await fetch(`http://127.0.0.1:${step.extraPort}/v2/`);
      expect(res.status).toBe(200);
      if (oldExtraPort && oldExtraPort !== step.extraPort) {
        await until(async () => {
          try {
            await fetch(`http://127.0.0.1:${oldExtraPort}/v2/`);
            return undefined;
          } catch {
            return true;
          }
        });
      }
      if (n === 1) {
        const second = await patchChunk(url, first.location ?? upload, chunk2, chunk1.length);
        expect(second.status).toBe(202);
        const done = await finishUpload(second.location ?? upload, sha256(Buffer.concat([chunk1, chunk2])));
        expect(done.status).toBe(201);
      }
    }
    stop = true;
    await client;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(20);
    expect(rejected).toBe(1);
    // One reload attempt per rename-replacement, not one per filesystem event.
    const log = server.log();
    const attempts = countLines(log, 'reloaded') + countLines(log, 'reload rejected');
    expect(attempts).toBe(20);
  }, 120_000);

  it('SIGHUP reloads (an unchanged plan is a logged no-op)', async () => {
    const before = countLines(server.log(), 'reload: plan unchanged, nothing to do');
    process.kill(server.pid(), 'SIGHUP');
    await until(async () =>
      countLines(server.log(), 'reload: plan unchanged, nothing to do') > before ? true : undefined,
    );
  });
});
