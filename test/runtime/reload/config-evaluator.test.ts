/**
 * Reloads evaluate the config in a child process (runtime/reload/config-evaluator.ts): the child's plan is
 * the in-process plan; a config that never resolves, busy-loops or kills its process is a failed
 * reload while the old plan keeps serving (at full speed), and the next good config applies;
 * close() during a hung evaluation returns at once and leaves no child behind.
 */
import { spawn } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { buildPlan } from '../../../compiler/build.ts';
import { ConfigEvaluator } from '../../../runtime/reload/config-evaluator.ts';
import { Reloader } from '../../../runtime/reload/reloader.ts';
import { createLogger } from '../../../runtime/server/log.ts';
import { type RunningServer, serve } from '../../../runtime/server/serve.ts';
import { freePort } from '../../helpers/free-port.ts';
import { REPO_ROOT } from '../../helpers/regctl-server.ts';
import { BUSY, evaluatorChildren, HANG, isolationConfig } from '../../helpers/reload-isolation.ts';
import { TmpDirs } from '../../helpers/tmp.ts';

const tmp = new TmpDirs();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await tmp.cleanup();
});

const silent = createLogger({ env: { LOG_LEVEL: 'silent' } });

async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function start(text: (port: number) => string): Promise<{ server: RunningServer; file: string; port: number }> {
  const dir = await tmp.make('regctl-reload-isolation-');
  const port = await freePort();
  const file = join(dir, 'registry.config.ts');
  await writeFile(file, text(port));
  // No watcher: each test triggers its reloads itself.
  const server = await serve({ configPath: file, env: {}, log: silent, handleSignals: false });
  cleanups.push(() => server.close());
  return { server, file, port };
}

/** Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}

/** Milliseconds a `GET /v2/` takes, and its status. */
async function timedGet(port: number): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const res = await request(`http://127.0.0.1:${port}/v2/`);
  await res.body.dump();
  return { ms: performance.now() - started, status: res.statusCode };
}

describe('ConfigEvaluator', () => {
  it('builds the same plan (same id) as buildPlan in this process, frozen', async () => {
    const evaluator = new ConfigEvaluator({ spare: false });
    cleanups.push(() => evaluator.close());
    const configPath = join(REPO_ROOT, 'registry.config.ts');
    const [child, local] = await Promise.all([
      evaluator.evaluate({ configPath, env: {} }, { timeoutMs: 20_000 }),
      buildPlan({ configPath, env: {} }),
    ]);
    expect(child.ok && local.ok).toBe(true);
    if (!child.ok || !local.ok) return;
    expect(child.plan.id).toBe(local.plan.id);
    expect(child.plan).toEqual(local.plan);
    expect(child.files).toEqual(local.files);
    expect(Object.isFrozen(child.plan.repositories.private)).toBe(true);
  });

  it('places the diagnostics of an invalid config at line:column', async () => {
    const dir = await tmp.make('regctl-evaluator-');
    const configPath = join(dir, 'registry.config.ts');
    await writeFile(configPath, isolationConfig(5000, ['private']).replace("type: 'hosted'", "type: 'hostd'"));
    const evaluator = new ConfigEvaluator({ spare: false });
    cleanups.push(() => evaluator.close());
    const result = await evaluator.evaluate({ configPath, env: {} }, { timeoutMs: 20_000 });
    expect(result.ok).toBe(false);
    expect(result.diagnostics[0]).toMatchObject({ severity: 'error', file: configPath, line: 5 });
  });

  it('keeps one spare child started, and none after close()', async () => {
    const evaluator = new ConfigEvaluator({ spare: true });
    cleanups.push(() => evaluator.close());
    expect(evaluator.childCount).toBe(1);
    const result = await evaluator.evaluate(
      { configPath: join(REPO_ROOT, 'registry.config.ts'), env: {} },
      { timeoutMs: 20_000 },
    );
    expect(result.ok).toBe(true);
    // The used child is gone and a new spare is there.
    await expect.poll(() => evaluator.childCount, { timeout: 5000 }).toBe(1);
    await evaluator.close();
    expect(evaluator.childCount).toBe(0);
    expect(await evaluatorChildren(process.pid)).toEqual([]);
  });

  it('a busy child whose parent was killed (no close) ends by itself', async () => {
    const dir = await tmp.make('regctl-evaluator-orphan-');
    await writeFile(join(dir, 'registry.config.ts'), `${BUSY}\nexport default {};\n`);
    const script = join(dir, 'parent.mts');
    await writeFile(
      script,
      `import { ConfigEvaluator } from ${JSON.stringify(join(REPO_ROOT, 'runtime/reload/config-evaluator.ts'))};
const evaluator = new ConfigEvaluator({ spare: false });
void evaluator.evaluate({ configPath: ${JSON.stringify(join(dir, 'registry.config.ts'))}, env: {} }, { timeoutMs: 600_000 });
setInterval(() => {}, 1000);
`,
    );
    const parent = spawn(process.execPath, [join(REPO_ROOT, 'bin/run-ts.mjs'), script], { stdio: 'ignore' });
    cleanups.push(async () => parent.kill('SIGKILL'));
    let children: number[] = [];
    for (let i = 0; i < 100 && children.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      children = await evaluatorChildren(parent.pid ?? 0);
    }
    expect(children).toHaveLength(1);
    // Let it reach the busy loop, then kill the parent the hard way.
    await new Promise((r) => setTimeout(r, 1000));
    parent.kill('SIGKILL');
    const [child] = children as [number];
    await expect.poll(() => running(child), { timeout: 3000, interval: 100 }).toBe(false);
  });
});

describe('Reloader with the config evaluated in a child', () => {
  it('a config that never resolves fails the reload at the timeout; the next good config applies', async () => {
    const { server, file, port } = await start((p) => isolationConfig(p, ['private']));
    const first = server.plan.id;
    await replace(file, isolationConfig(port, ['private', 'hung'], { prelude: HANG }));
    const started = performance.now();
    await server.reloader.trigger('hung config');
    const elapsed = performance.now() - started;
    expect(server.holder.lastReload.ok).toBe(false);
    expect(server.holder.lastReload.error).toMatch(/timed out after 1s/);
    // 1 s from the moment the child had the request; its start (tsx under vitest) comes before.
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(4000);
    expect(server.plan.id).toBe(first);
    expect((await timedGet(port)).status).toBe(200);
    await replace(file, isolationConfig(port, ['private', 'good']));
    await server.reloader.trigger('fixed');
    expect(server.holder.lastReload.error).toBeUndefined();
    expect(server.holder.lastReload.ok).toBe(true);
    expect(server.plan.repositories.good).toBeDefined();
  });

  it('a busy-looping config fails the reload at the timeout while requests keep being answered fast', async () => {
    const { server, file, port } = await start((p) => isolationConfig(p, ['private']));
    const first = server.plan.id;
    await replace(file, isolationConfig(port, ['private', 'busy'], { prelude: BUSY }));
    let done = false;
    const reload = server.reloader.trigger('busy config').finally(() => {
      done = true;
    });
    const samples: number[] = [];
    for (let i = 0; i < 500 && !done; i += 1) {
      const { ms, status } = await timedGet(port);
      expect(status).toBe(200);
      samples.push(ms);
      await new Promise((r) => setTimeout(r, 20));
    }
    await reload;
    expect(server.holder.lastReload.error).toMatch(/timed out after 1s/);
    expect(server.plan.id).toBe(first);
    // The attempt lasted the child's start plus 1 s of busy loop: dozens of requests, none slow.
    expect(samples.length).toBeGreaterThan(30);
    expect(Math.max(...samples)).toBeLessThan(100);
    await replace(file, isolationConfig(port, ['private', 'after']));
    await server.reloader.trigger('fixed');
    expect(server.holder.lastReload.ok).toBe(true);
    expect(server.plan.repositories.after).toBeDefined();
  });

  it('a config that ends its process fails the reload with how the evaluator exited', async () => {
    const { server, file, port } = await start((p) => isolationConfig(p, ['private']));
    const first = server.plan.id;
    await replace(
      file,
      isolationConfig(port, ['private'], { prelude: `process.stderr.write('config gave up\\n'); process.exit(7);` }),
    );
    await server.reloader.trigger('crashing config');
    expect(server.holder.lastReload.ok).toBe(false);
    expect(server.holder.lastReload.error).toMatch(
      /the config evaluator exited with code 7 before returning a result:\s+config gave up/,
    );
    expect(server.plan.id).toBe(first);
  });

  it('close() during a hung evaluation returns at once, kills the child, keeps the plan', async () => {
    const { server, file, port } = await start((p) => isolationConfig(p, ['private'], { timeout: '60s' }));
    await replace(file, isolationConfig(port, ['private', 'hung'], { prelude: HANG }));
    const reload = server.reloader.trigger('hung config');
    // Give the child time to start and take the request (the close must be prompt either way).
    await new Promise((r) => setTimeout(r, 1500));
    expect(await evaluatorChildren(process.pid)).toHaveLength(1);
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(1000);
    await reload;
    expect(server.holder.lastReload.error).toMatch(/shutting down/);
    expect(await evaluatorChildren(process.pid)).toEqual([]);
  });

  it('an injected build that ignores its signal is given up at the timeout all the same', async () => {
    const { server } = await start((p) => isolationConfig(p, ['private']));
    let signal: AbortSignal | undefined;
    const reloader = new Reloader({
      configPath: server.configPath,
      env: {},
      log: silent,
      holder: server.holder,
      listeners: server.listeners,
      files: server.files,
      build: (options) => {
        signal = options.signal;
        return new Promise(() => {});
      },
    });
    cleanups.push(() => reloader.close());
    const started = performance.now();
    const outcome = await reloader.reloadOnce('hung build');
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(outcome).toMatchObject({ status: 'failed', files: server.files });
    expect(outcome.error).toMatch(/timed out after 1s/);
    expect(signal?.aborted).toBe(true);
  });

  it('the timeout that applies is the serving plan’s, and a new one counts from the next reload', async () => {
    const { server, file, port } = await start((p) => isolationConfig(p, ['private'], { timeout: '1s' }));
    await replace(file, isolationConfig(port, ['private'], { timeout: '3s' }));
    await server.reloader.trigger('longer timeout');
    expect(server.plan.reload?.timeoutMs).toBe(3000);
    await replace(file, isolationConfig(port, ['private'], { timeout: '1s', prelude: HANG }));
    await server.reloader.trigger('hung config');
    expect(server.holder.lastReload.error).toMatch(/timed out after 3s/);
  });
});
