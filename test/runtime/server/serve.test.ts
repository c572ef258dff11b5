/**
 * `serve()` in process (with fake repositories) and `node bin/regctl.mjs serve` as a child process
 * (the real modules): endpoints, invalid config, SIGTERM draining an in-flight request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningServer, ServeError, serve } from '../../../runtime/server/serve.ts';
import { FakeWorld, silentLog } from '../http/fakes.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A temp dir with a TS config whose `defineConfig({ … })` holds `body`. */
async function writeConfigFile(body: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-serve-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'registry.config.ts');
  const schema = JSON.stringify(join(ROOT, 'schema/index.ts'));
  await writeFile(file, `import { defineConfig } from ${schema};\nexport default defineConfig({${body}\n});\n`);
  return { dir, file };
}

/** A temp dir with a TS config serving hosted `private` (file store ./data) on `port`. */
function writeConfig(port: number, extra = ''): Promise<{ dir: string; file: string }> {
  return writeConfigFile(`
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
  listeners: [{ host: '127.0.0.1', port: ${port}, repository: 'private' }],${extra}`);
}

async function getJson(url: string): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() };
}

describe('serve() in process', () => {
  it('builds the plan, binds the listener, answers /v2/, /-/health, /-/status; close() drains', async () => {
    const port = await freePort();
    const { file } = await writeConfig(port);
    const world = new FakeWorld();
    const server: RunningServer = await serve({
      configPath: file,
      env: {},
      log: silentLog,
      handleSignals: false,
      factories: world.factories,
    });
    cleanups.push(() => server.close());
    const url = server.urls[`127.0.0.1:${port}`];
    expect(url).toBe(`http://127.0.0.1:${port}`);

    const ping = await getJson(`${url}/v2/`);
    expect(ping).toMatchObject({ status: 200, body: {} });
    expect(ping.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect((await getJson(`${url}/-/health`)).status).toBe(200);
    const status = (await getJson(`${url}/-/status`)).body as { planId: string; repositories: { name: string }[] };
    expect(status.planId).toBe(server.plan.id);
    expect(status.repositories.map((repository) => repository.name)).toEqual(['private']);

    // an in-flight blob download finishes although close() was called meanwhile
    const body = new PassThrough();
    const repository = world.repositories.get('private')!;
    repository.getBlob = async (_image, digest) => ({ info: { digest, size: 6 }, body: { stream: body } });
    const digest = `sha256:${'a'.repeat(64)}`;
    const download = request(`${url}/v2/app/blobs/${digest}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    const closing = server.close();
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    body.end('6bytes');
    const res = await download;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('6bytes');
    await closing;
    await server.closed;
    expect(world.stores[0]!.closed).toBe(1);
    expect(world.controllers[0]!.closed).toBe(1);
  });

  it('an invalid config prints diagnostics, rejects with exit code 1 and binds nothing', async () => {
    const port = await freePort();
    const { file } = await writeConfig(
      port,
      "\n  security: { users: [{ name: 'ci', password: 'plain', roles: ['nope'] }] },",
    );
    const previousExitCode = process.exitCode;
    const error = await serve({ configPath: file, env: {}, log: silentLog, handleSignals: false }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServeError);
    expect((error as ServeError).code).toBe('CONFIG_INVALID');
    expect((error as ServeError).exitCode).toBe(1);
    // The exit code travels with the error; serve() leaves the process's own alone.
    expect(process.exitCode).toBe(previousExitCode);
  });

  it('a config that cannot be loaded rejects with exit code 2', async () => {
    const previousExitCode = process.exitCode;
    const configPath = join(tmpdir(), `regctl-missing-${process.pid}`, 'registry.config.ts');
    const error = await serve({ configPath, env: {}, log: silentLog, handleSignals: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServeError);
    expect((error as ServeError).code).toBe('CONFIG_INVALID');
    expect((error as ServeError).exitCode).toBe(2);
    expect(process.exitCode).toBe(previousExitCode);
  });
});

/** Starts `node bin/regctl.mjs serve --config FILE --no-watch` and waits for /-/health. */
async function startCli(
  file: string,
  url: string,
): Promise<{ child: ChildProcess; output: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/regctl.mjs'), 'serve', '--config', file, '--no-watch'], {
    cwd: dirname(file),
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exit = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`regctl serve exited ${child.exitCode}:\n${output}`);
    try {
      const res = await request(`${url}/-/health`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`regctl serve did not come up:\n${output}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return { child, output: () => output, exit };
}

describe('node bin/regctl.mjs serve', () => {
  it('serves /v2/, /-/health, /-/status; SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const port = await freePort();
    const { file } = await writeConfig(port);
    const url = `http://127.0.0.1:${port}`;
    const cli = await startCli(file, url);

    const ping = await getJson(`${url}/v2/`);
    expect(ping.status).toBe(200);
    expect(ping.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const status = (await getJson(`${url}/-/status`)).body as { planId: string; lastReload: { ok: boolean } };
    expect(status.planId).toMatch(/^[0-9a-f]{64}$/);
    expect(status.lastReload.ok).toBe(true);

    // a manifest PUT whose body is still arriving when SIGTERM comes: it must get its real answer
    // (the body is not JSON, so the hosted repository refuses it without writing to the store)
    const chunk = new PassThrough();
    const put = request(`${url}/v2/myorg/app/manifests/v1`, {
      method: 'PUT',
      body: chunk,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '10' },
    });
    chunk.write('not ');
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    cli.child.kill('SIGTERM');
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    expect(cli.child.exitCode).toBeNull();
    // a new connection is refused while draining
    await expect(request(`${url}/-/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    chunk.end('json!!');
    const done = await put;
    expect(done.statusCode).toBe(400);
    expect(((await done.body.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('MANIFEST_INVALID');
    expect(await cli.exit).toBe(0);
    expect(cli.output()).toMatch(/shutting down/);
  });

  it('exits non-zero on an invalid config, printing the diagnostics', async () => {
    const port = await freePort();
    const { file } = await writeConfig(
      port,
      "\n  security: { users: [{ name: 'ci', password: 'plain', roles: ['nope'] }] },",
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/regctl.mjs'), 'serve', '--config', file, '--no-watch'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
    expect(code).not.toBe(0);
    // Not serving, so the diagnostics are placed at line:column (the security line is line 6).
    expect(stderr).toMatch(/registry\.config\.ts:6:\d+: error security\.users\[0\]/);
  });

  it("serves a config with a warning, reporting it by exact path (line:column would cost the parser's memory)", async () => {
    const port = await freePort();
    const { file } = await writeConfigFile(`
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    { name: 'open', type: 'hosted', anonymous: ['pull'] },
    { name: 'team', type: 'hosted', anonymous: ['pull'] },
  ],
  listeners: [{ host: '127.0.0.1', port: ${port}, repository: 'open', paths: ['team'] }],`);
    const cli = await startCli(file, `http://127.0.0.1:${port}`);
    expect(cli.output()).toMatch(
      /registry\.config\.ts: warning listeners\[0\]\.paths\[0\]: path prefix `team` shadows/,
    );
    const status = await getJson(`http://127.0.0.1:${port}/-/status`);
    expect(status.status).toBe(200);
  });
});
