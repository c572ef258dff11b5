/**
 * Reload isolation end to end: `regctl serve` (the real CLI, a child process, --watch) evaluates
 * each reload's config in a child process of its own. A config that never resolves or busy-loops
 * is a failed reload at `reload.timeout` (2 s here) while requests keep being answered fast; a
 * later good config applies; SIGTERM during a hung reload stops the server at once (well within
 * the drain timeout) and leaves no evaluator process behind.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { BUSY, evaluatorChildren, HANG, isolationConfig } from '../helpers/reload-isolation.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const tmp = new TmpDirs();
/** The tests' configs, with a 2 s reload timeout unless told otherwise. */
const config = (port: number, repos: string[], options: { timeout?: string; prelude?: string } = {}) =>
  isolationConfig(port, repos, { timeout: '2s', ...options });

async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.${process.pid}.tmp`, text);
  await rename(`${file}.${process.pid}.tmp`, file);
}

interface Status {
  planId: string;
  lastReload: { ok: boolean; at: string; planId: string; error?: string };
}

async function getStatus(url: string): Promise<Status> {
  const res = await fetch(`${url}/-/status`);
  return (await res.json()) as Status;
}

/**
 * Polls `/-/status` every 20 ms until the last reload is not the one recorded at `before`, timing
 * a `GET /v2/` each round; bounded by `timeoutMs`.
 */
async function nextReload(
  url: string,
  before: string,
  timeoutMs = 15_000,
): Promise<{ status: Status; slowest: number; requests: number }> {
  const deadline = Date.now() + timeoutMs;
  let slowest = 0;
  let requests = 0;
  while (Date.now() < deadline) {
    const started = performance.now();
    const res = await fetch(`${url}/v2/`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    slowest = Math.max(slowest, performance.now() - started);
    requests += 1;
    const status = await getStatus(url);
    if (status.lastReload.at !== before) return { status, slowest, requests };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no reload within ${timeoutMs} ms`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('reload isolation', () => {
  let server: RegctlServer;
  let configFile: string;
  let port: number;
  let url: string;

  beforeAll(async () => {
    // The log outside the watched config folder (its writes would wake the watcher).
    const root = await tmp.make('regctl-reload-isolation-e2e-');
    const dir = join(root, 'config');
    await mkdir(dir);
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    configFile = join(dir, 'registry.config.ts');
    await writeFile(configFile, config(port, ['private']));
    server = await startRegctl({ dir, configFile, ports: [port], logFile: join(root, 'regctl.log') });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await tmp.cleanup();
  });

  it('a config that never resolves times out; requests stay fast; a later good config applies', async () => {
    const first = await getStatus(url);
    await replace(configFile, config(port, ['private', 'hung'], { prelude: HANG }));
    const hung = await nextReload(url, first.lastReload.at);
    expect(hung.status.lastReload.ok).toBe(false);
    expect(hung.status.lastReload.error).toMatch(/timed out after 2s/);
    expect(hung.status.planId).toBe(first.planId);
    expect(hung.requests).toBeGreaterThan(20);
    expect(hung.slowest).toBeLessThan(100);

    await replace(configFile, config(port, ['private', 'good']));
    const good = await nextReload(url, hung.status.lastReload.at);
    expect(good.status.lastReload.ok, good.status.lastReload.error).toBe(true);
    expect(good.status.planId).not.toBe(first.planId);
    const res = await fetch(`${url}/v2/good/img/blobs/uploads/`, { method: 'POST' });
    await res.arrayBuffer();
    expect(res.status).toBe(202);
  });

  it('a busy-looping config times out while requests stay fast', async () => {
    const before = await getStatus(url);
    await replace(configFile, config(port, ['private', 'busy'], { prelude: BUSY }));
    const busy = await nextReload(url, before.lastReload.at);
    expect(busy.status.lastReload.error).toMatch(/timed out after 2s/);
    expect(busy.status.planId).toBe(before.planId);
    expect(busy.requests).toBeGreaterThan(20);
    expect(busy.slowest).toBeLessThan(100);
  });

  it('SIGTERM during a hung reload exits at once, leaving no evaluator behind', async () => {
    // A long timeout: only the shutdown can end this evaluation in time.
    const before = await getStatus(url);
    await replace(configFile, config(port, ['private'], { timeout: '60s' }));
    const applied = await nextReload(url, before.lastReload.at);
    expect(applied.status.lastReload.ok).toBe(true);
    await replace(configFile, config(port, ['private', 'hung'], { prelude: HANG }));
    // The watcher's debounce, then the spare child takes the request.
    await new Promise((r) => setTimeout(r, 1000));
    const children = await evaluatorChildren(server.pid());
    expect(children.length).toBeGreaterThan(0);
    const started = performance.now();
    const exit = await server.stop();
    const elapsed = performance.now() - started;
    expect(exit).toBe(0);
    // The drain timeout is 30 s and the evaluation would run for 60 s.
    expect(elapsed, `stopped ${Math.round(elapsed)} ms after SIGTERM`).toBeLessThan(3000);
    for (const pid of children) expect(alive(pid), `evaluator ${pid}`).toBe(false);
    expect(server.log()).toMatch(/shutting down/);
  });
});
