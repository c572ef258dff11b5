/**
 * Login abuse against a real `regctl serve` (issue #16): a flood of bogus logins must not slow a
 * logged-in client's pulls, failed logins are throttled per address and per user name with 429
 * and `Retry-After`, and a failed login takes as long for a name that does not exist as for one
 * that does. Users as operators configure them: `ci` and `ops` with plaintext passwords from the
 * environment, `hashed` with a cost-10 bcrypt hash from `htpasswd -nbBC 10`.
 *
 * The flood runs in a child process (test/helpers/login-load.ts), so this process's event loop
 * measures the server, not the attacker. Every loop is bounded; everything is on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basicAuthorization,
  percentile,
  pushBlob,
  startLoginFlood,
  timeFailedLogins,
  timePulls,
  usersConfig,
} from '../helpers/login-load.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const CI = { name: 'ci', password: 'ci-e2e-password' };
const OPS = { name: 'ops', password: 'ops-e2e-password' };
const DEV = { name: 'dev', password: 'dev-e2e-password' };
/** `htpasswd -nbBC 10 hashed hashed-e2e-password`. */
const HASHED = { name: 'hashed', hash: '$2y$10$I4IXeTXocnjrgz/8BQcueexvLYaZKz0I2XCJ6QCufkGN0KkGUtaIi' };
const ENV = { CI_PASSWORD: CI.password, OPS_PASSWORD: OPS.password, DEV_PASSWORD: DEV.password };
const IMAGE = 'abuse/app';

/** `security.loginThrottle` as the configs write it. */
const withThrottle = (loginThrottle: object): object => ({ loginThrottle });

function config(throttle: object): TestConfig {
  const users = [
    { name: CI.name, env: 'CI_PASSWORD' },
    { name: OPS.name, env: 'OPS_PASSWORD' },
    { name: DEV.name, env: 'DEV_PASSWORD' },
    { name: HASHED.name, bcrypt: HASHED.hash },
  ];
  return usersConfig(users, { token: { enabled: true }, ...throttle });
}

const dirs = new TmpDirs();
/** The default throttle (the config says nothing about it), throttling off, and tight limits. */
let defaults: RegctlServer;
let unthrottled: RegctlServer;
let tight: RegctlServer;
const blobPaths = new Map<RegctlServer, string>();
const ci = basicAuthorization(CI.name, CI.password);

beforeAll(async () => {
  const start = async (throttle: object) => {
    const server = await startRegctl({ dir: await dirs.make('regctl-abuse-'), config: config(throttle), env: ENV });
    blobPaths.set(server, `/v2/${IMAGE}/blobs/${await pushBlob(server.url, IMAGE, ci, 256 * 1024)}`);
    return server;
  };
  defaults = await start({});
  unthrottled = await start(withThrottle({ enabled: false }));
  tight = await start(
    withThrottle({ perAddress: { burst: 8, perMinute: 1 }, perUser: { burst: 3, perMinute: 1 }, maxBackoff: '1h' }),
  );
});

afterAll(async () => {
  await Promise.all([defaults, unthrottled, tight].map((server) => server?.stop()));
  await dirs.cleanup();
});

/** The valid client's pull latencies while 32 connections of another process flood bogus logins. */
async function pullsDuringFlood(server: RegctlServer): Promise<{ latencies: number[]; flood: number }> {
  const flood = startLoginFlood({ port: server.port, connections: 32, seconds: 6, maxRequests: 200_000 });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const latencies = await timePulls({
    url: server.url,
    path: blobPaths.get(server)!,
    authorization: ci,
    count: 2_000,
    seconds: 5,
    pauseMs: 5,
  });
  const result = await flood.done;
  return { latencies, flood: result.requests };
}

describe('login abuse', () => {
  it.each([
    ['the default throttle', () => defaults],
    ['the throttle disabled (the bounded check queue alone)', () => unthrottled],
  ])('keeps a logged-in client pulling fast while 32 connections flood bogus logins, with %s', async (_, server) => {
    const { latencies, flood } = await pullsDuringFlood(server());
    expect(flood).toBeGreaterThan(32);
    // Idle, a pull takes 1-2 ms; with bcrypt on the event loop it took seconds under this flood.
    expect(latencies.length).toBeGreaterThan(100);
    expect(percentile(latencies, 99)).toBeLessThan(300);
  });

  it('throttles failed logins per name and per address with 429, Retry-After and the OCI body; proven credentials pass', async () => {
    const pull = (authorization: string) =>
      fetch(`${tight.url}${blobPaths.get(tight)}`, { headers: { authorization } }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      });
    expect(await pull(ci)).toBe(200);
    // Someone guesses ops's password: three failures, then the name is throttled.
    for (let i = 0; i < 3; i++) expect(await pull(basicAuthorization(OPS.name, `guess-${i}`))).toBe(401);
    const refused = await fetch(`${tight.url}/v2/`, { headers: { authorization: basicAuthorization(OPS.name, 'x') } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(60);
    const body = (await refused.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
    expect(body.errors[0]?.message).toMatch(/too many failed logins/);
    const token = await fetch(`${tight.url}/-/token?service=regctl&scope=repository:${IMAGE}:pull`, {
      headers: { authorization: basicAuthorization(OPS.name, 'y') },
    });
    expect(token.status).toBe(429);
    expect(token.headers.get('retry-after')).not.toBeNull();
    expect(((await token.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('TOOMANYREQUESTS');
    // Another user's first login from the same address works, and ci's cached credentials do.
    expect(await pull(basicAuthorization(DEV.name, DEV.password))).toBe(200);
    expect(await pull(ci)).toBe(200);

    // Spraying names from this address: after 8 failures in all the address is throttled.
    for (let i = 0; i < 5; i++) expect(await pull(basicAuthorization(`spray-${i}`, 'x'))).toBe(401);
    expect(await pull(basicAuthorization('spray-next', 'x'))).toBe(429);
    expect(await pull(basicAuthorization(HASHED.name, 'not-it'))).toBe(429);
    // Users who logged in from here before are not locked out by it.
    expect(await pull(ci)).toBe(200);
    expect(await pull(basicAuthorization(DEV.name, DEV.password))).toBe(200);
    expect(tight.log()).not.toContain(OPS.password);
  });

  it('takes as long to refuse a name that does not exist as one that does', async () => {
    const timings = await timeFailedLogins({
      url: unthrottled.url,
      users: [CI.name, HASHED.name, 'no-such-user'],
      rounds: 12,
    });
    const median = (user: string) => percentile(timings.get(user)!, 50);
    const unknown = median('no-such-user');
    // Every refusal costs one cost-10 bcrypt (tens of ms); a refusal without one takes about 1 ms.
    for (const known of [CI.name, HASHED.name]) {
      expect(Math.abs(unknown - median(known)), `${known}: ${median(known)} ms, unknown: ${unknown} ms`).toBeLessThan(
        5 + unknown * 0.3,
      );
    }
  });
});
