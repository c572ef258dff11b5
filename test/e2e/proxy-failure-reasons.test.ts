/**
 * Why a pull through a proxy repository failed, seen by an HTTP client of `regctl serve` and in
 * its log: proxy repositories in front of a closed loopback port (unreachable), Debian's
 * distribution registry behind `auth.htpasswd` and behind `auth.token` (the token-server fixture),
 * both given wrong credentials (refused our credentials), and a TCP server that accepts and never
 * answers, with a 1 s `remote.timeout` (timed out). Each answer is asserted as status plus the OCI
 * body `{"errors":[{"code","message","detail"}]}`, and the same message must be in regctl's log,
 * with no password anywhere. Then `regctl warm`, run as a user runs it, against this regctl's
 * hosted repository that requires authentication: it must say the registry itself refused.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { startSilentServer } from '../helpers/failing-peers.ts';
import { deadPort } from '../helpers/free-port.ts';
import { TEST_USER } from '../helpers/hosted-configs.ts';
import { run, waitUntil } from '../helpers/process.ts';
import { REPO_ROOT, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

type ProxyInput = Extract<NonNullable<TestConfig['repositories']>[number], { type: 'proxy' }>;

const dirs = new TmpDirs();
const HTPASSWD_WRONG = 'wrong-htpasswd-s3cret';
const TOKEN_WRONG = 'wrong-token-s3cret';
let server: RegctlServer;
let basic: Distribution;
let tokened: Distribution;
let tokens: TokenServer;
let silent: Awaited<ReturnType<typeof startSilentServer>>;
let closedUrl: string;

beforeAll(async () => {
  closedUrl = `http://127.0.0.1:${await deadPort()}`;
  silent = await startSilentServer();
  basic = await startDistribution({ dir: await dirs.make(), htpasswd: { puller: 'pull-secret' } });
  tokens = await startTokenServer({ dir: await dirs.make(), users: { robot: 'robot-secret' } });
  tokened = await startDistribution({ dir: await dirs.make(), token: tokens });
  const proxy = (name: string, remote: ProxyInput['remote']): ProxyInput => ({
    name,
    type: 'proxy',
    remote: { index: 'registry', ...remote },
    anonymous: ['pull'],
  });
  server = await startRegctl({
    dir: await dirs.make(),
    env: { HTPASSWD_PW: HTPASSWD_WRONG, TOKEN_PW: TOKEN_WRONG, CI_PASSWORD: TEST_USER.password },
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        proxy('closed', { url: closedUrl }),
        proxy('htpasswd', { url: basic.url, auth: { username: 'puller', password: { env: 'HTPASSWD_PW' } } }),
        proxy('tokened', { url: tokened.url, auth: { username: 'robot', password: { env: 'TOKEN_PW' } } }),
        proxy('silent', { url: silent.url, timeout: '1s' }),
        { name: 'private', type: 'hosted', anonymous: [] },
      ],
      listeners: [{ host: '127.0.0.1', paths: ['closed', 'htpasswd', 'tokened', 'silent', 'private'] }],
      security: {
        users: [{ name: TEST_USER.name, password: { env: 'CI_PASSWORD' }, roles: ['puller'] }],
        roles: { puller: [{ repositories: ['private'], actions: ['pull'] }] },
        token: { enabled: true, ttl: '5m' },
      },
    },
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([basic?.stop(), tokened?.stop(), tokens?.stop(), silent?.stop()]);
  await dirs.cleanup();
});

interface OciError {
  code: string;
  message: string;
  detail: Record<string, unknown>;
}

/** GETs a manifest through repository `repo`; the status and the one OCI error of the body. */
async function pull(repo: string): Promise<{ status: number; error: OciError }> {
  const response = await fetch(`${server.url}/v2/${repo}/team/app/manifests/v1`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const body = (await response.json()) as { errors: OciError[] };
  expect(body.errors).toHaveLength(1);
  return { status: response.status, error: body.errors[0]! };
}

/** The JSON lines of regctl's log at warn level whose message is `message`. */
function loggedWarnings(message: string): Record<string, unknown>[] {
  return server
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.level === 40 && entry.msg === message);
}

/**
 * Checks that the log has the client's message once, at warn, with its detail (the HTTP error
 * handler's line for a 5xx, which carries the error and the request id), and no password anywhere.
 */
async function expectLoggedOnce(error: OciError) {
  // The answer can reach the client before the logger has flushed its line to the file.
  await waitUntil(async () => loggedWarnings(error.message).length > 0, `the log line "${error.message}"`, {
    timeoutMs: 5000,
    intervalMs: 50,
    describe: () => server.log().slice(-4000),
  });
  const lines = loggedWarnings(error.message);
  expect(lines).toHaveLength(1);
  const err = lines[0]!.err as { detail?: unknown } | undefined;
  expect(err?.detail).toEqual(error.detail);
  expect(lines[0]!.reqId).toEqual(expect.any(String));
  for (const secret of [HTPASSWD_WRONG, TOKEN_WRONG, TEST_USER.password]) expect(server.log()).not.toContain(secret);
}

describe('regctl serve: a proxy says why its upstream failed', () => {
  it('a closed port: 503, the upstream is unreachable (connection refused)', async () => {
    const { status, error } = await pull('closed');
    expect(status).toBe(503);
    expect(error).toEqual({
      code: 'UNAVAILABLE',
      message: `proxy repository closed: the upstream ${closedUrl} is unreachable (connection refused) and nothing is cached`,
      detail: {
        repository: 'closed',
        upstream: closedUrl,
        reason: 'connection refused',
        upstreamError: 'UPSTREAM_UNREACHABLE',
      },
    });
    await expectLoggedOnce(error);
  });

  it('distribution with htpasswd and wrong credentials: 503, the upstream refused our credentials', async () => {
    const { status, error } = await pull('htpasswd');
    expect(status).toBe(503);
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message:
        `proxy repository htpasswd: the upstream ${basic.url} refused our credentials (401 from the registry) ` +
        'and nothing is cached; check remote.auth',
      detail: { repository: 'htpasswd', upstreamError: 'UPSTREAM_CREDENTIALS_REFUSED', upstreamStatus: 401 },
    });
    await expectLoggedOnce(error);
    // The credentials did reach distribution (twice: anonymous first, then Basic): refused there.
    expect(basic.countRequests(/GET \/v2\/team\/app\/manifests\/v1 HTTP\/1\.1 401/)).toBe(2);
  });

  it('distribution with a token service refusing our credentials: 503, naming the token service', async () => {
    const { status, error } = await pull('tokened');
    expect(status).toBe(503);
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message:
        `proxy repository tokened: the upstream ${tokened.url} refused our credentials ` +
        `(401 from the token service ${tokens.realm}) and nothing is cached; check remote.auth`,
      detail: { repository: 'tokened', upstreamError: 'UPSTREAM_CREDENTIALS_REFUSED' },
    });
    await expectLoggedOnce(error);
    // distribution was asked, and sent us to the token service with a Bearer challenge.
    expect(tokened.countRequests(/GET \/v2\/team\/app\/manifests\/v1 HTTP\/1\.1 401/)).toBe(1);
  });

  it('an upstream that accepts and never answers: 503 after remote.timeout, saying it timed out', async () => {
    const started = Date.now();
    const { status, error } = await pull('silent');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(status).toBe(503);
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message: `proxy repository silent: the upstream ${silent.url} timed out after 1s waiting for a response, and nothing is cached`,
      detail: { repository: 'silent', reason: 'after 1s waiting for a response', upstreamError: 'UPSTREAM_TIMEOUT' },
    });
    await expectLoggedOnce(error);
    expect(silent.connections()).toBeGreaterThan(0);
  });
});

describe('regctl warm: the registry being warmed refuses', () => {
  /** `node bin/regctl.mjs warm --registry URL IMAGE` with REGCTL_* as given, none inherited. */
  async function warmCli(image: string, credentials: Record<string, string> = {}) {
    const env = { ...process.env };
    delete env.REGCTL_USERNAME;
    delete env.REGCTL_PASSWORD;
    return run(process.execPath, [join(REPO_ROOT, 'bin/regctl.mjs'), 'warm', '--registry', server.url, image], {
      env: { ...env, ...credentials },
      allowFailure: true,
      timeoutMs: 60_000,
    });
  }

  it('without REGCTL_USERNAME/REGCTL_PASSWORD: says the registry requires authentication', async () => {
    const result = await warmCli('private/app:v1');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `FAILED private/app:v1: the registry at ${server.url} requires authentication (401): ` +
        'set REGCTL_USERNAME and REGCTL_PASSWORD',
    );
    expect(result.stderr).not.toMatch(/upstream/);
  });

  it('with wrong credentials: says the registry refused them; with the right ones it gets past auth', async () => {
    const wrong = await warmCli('private/app:v1', { REGCTL_USERNAME: TEST_USER.name, REGCTL_PASSWORD: 'nope-nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(
      `FAILED private/app:v1: the registry at ${server.url} refused the credentials from REGCTL_USERNAME/REGCTL_PASSWORD (401)`,
    );
    expect(wrong.stderr).not.toContain('nope-nope');
    const right = await warmCli('private/app:v1', {
      REGCTL_USERNAME: TEST_USER.name,
      REGCTL_PASSWORD: TEST_USER.password,
    });
    expect(right.code).toBe(1);
    expect(right.stderr).toContain('FAILED private/app:v1: manifest private/app:v1: not found (404)');
  });
});
