/**
 * Failed logins through the access controller: throttled checks answer 429 with `Retry-After`
 * (Basic on any request and the token endpoint) while proven credentials pass, a full check queue
 * is a 429 too, and every refusal costs one bcrypt of the same cost, on the check queue.
 */
import { hashSync } from '@node-rs/bcrypt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoginThrottlePlan } from '../../../compiler/plan.ts';
import { BasicAuthenticator } from '../../../runtime/auth/basic.ts';
import { LoginThrottle } from '../../../runtime/auth/login-throttle.ts';
import { PasswordChecks } from '../../../runtime/auth/password-checks.ts';
import { bcryptCost, createDecoyHash, resolveUsers } from '../../../runtime/auth/users.ts';
import {
  ALICE_PASSWORD,
  BOB_PASSWORD,
  basic,
  captureLog,
  createTestController,
  rejection,
  request,
  resolveRepository,
} from './fixtures.ts';

vi.mock('@node-rs/bcrypt', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@node-rs/bcrypt')>();
  return { ...actual, verify: vi.fn(actual.verify) };
});
const { verify } = await import('@node-rs/bcrypt');
afterEach(() => vi.clearAllMocks());

const THROTTLE: LoginThrottlePlan = {
  enabled: true,
  perAddress: { burst: 4, perMinute: 2 },
  perUser: { burst: 2, perMinute: 2 },
  maxBackoffMs: 60_000,
  maxTracked: 1_000,
};
const pull = (repository: string) => ({ name: `${repository}/app`, repository, actions: ['pull' as const] });
const from = (ip: string, authorization: string) => request(authorization, '127.0.0.1:5000', undefined, ip);

describe('login throttling through the controller', () => {
  it('answers 429 with Retry-After and the OCI body once a name failed `burst` times, on /v2/ and /-/token', async () => {
    let now = 0;
    const { access, lines } = await createTestController(
      { loginThrottle: THROTTLE },
      { now: () => now, refusalDelayMs: 0 },
    );
    // Alice logs in once (cached from then on), then someone guesses her password.
    await access.authorize(from('10.0.0.1', basic('alice', ALICE_PASSWORD)), pull('private'));
    for (const guess of ['a', 'b']) {
      const error = await rejection(access.authorize(from('10.9.0.1', basic('alice', guess)), pull('private')));
      expect(error.code).toBe('UNAUTHORIZED');
    }
    const calls = vi.mocked(verify).mock.calls.length;
    const throttled = await rejection(access.authorize(from('10.9.0.2', basic('alice', 'c')), pull('private')));
    expect(throttled.status).toBe(429);
    expect(throttled.code).toBe('TOOMANYREQUESTS');
    // Two failures emptied the bucket (one strike): the next token comes in 2 × 30 s.
    expect(throttled.headers['Retry-After']).toBe('60');
    expect(throttled.toJSON()).toEqual({
      errors: [
        {
          code: 'TOOMANYREQUESTS',
          message: 'too many failed logins: try again in 60 s',
          detail: { retryAfterSeconds: 60 },
        },
      ],
    });
    const token = await rejection(
      access.issueToken(
        from('10.9.0.3', basic('alice', 'd')),
        { scope: ['repository:private/app:pull'] },
        resolveRepository,
      ),
    );
    expect([token.status, token.headers['Retry-After']]).toEqual([429, '60']);
    expect(vi.mocked(verify).mock.calls.length).toBe(calls); // refused without a bcrypt
    // Alice's proven credentials pass, from anywhere; so does another user's first login.
    await access.authorize(from('10.9.0.4', basic('alice', ALICE_PASSWORD)), pull('private'));
    await access.authorize(from('10.0.0.5', basic('bob', BOB_PASSWORD)), pull('docker-hub'));
    now += 60_000;
    expect((await rejection(access.authorize(from('10.9.0.5', basic('alice', 'e')), pull('private')))).code).toBe(
      'UNAUTHORIZED',
    );
    const refusals = lines.map((line) => JSON.parse(line)).filter((entry) => entry.reason === 'throttled');
    expect(refusals.map((entry) => [entry.level, entry.user, entry.ip])).toEqual([
      [20, 'alice', '10.9.0.2'],
      [20, 'alice', '10.9.0.3'],
    ]);
    expect(lines.join('')).not.toContain(ALICE_PASSWORD);
  });

  it('throttles nothing when loginThrottle is disabled', async () => {
    const { access } = await createTestController({ loginThrottle: { ...THROTTLE, enabled: false } });
    for (let i = 0; i < 5; i++) {
      expect((await rejection(access.authorize(request(basic('alice', `x${i}`)), pull('private')))).code).toBe(
        'UNAUTHORIZED',
      );
    }
  });
});

describe('BasicAuthenticator with a throttle and a check queue', () => {
  const hash = hashSync('right', 4);
  const users = resolveUsers([{ name: 'ci', password: { bcrypt: hash }, roles: [], permissions: [] }], {});
  const encode = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

  it('holds a throttled refusal for up to refusalDelayMs, and tells the client the rest of the wait', async () => {
    const throttle = new LoginThrottle({ ...THROTTLE, perUser: { burst: 1, perMinute: 60 } });
    const basicAuth = new BasicAuthenticator(users, { log: captureLog().log, throttle, refusalDelayMs: 200 });
    expect(await basicAuth.verify(encode('ci', 'wrong'), '10.0.0.1')).toMatchObject({ reason: 'wrong password' });
    const started = performance.now();
    const refused = await basicAuth.verify(encode('ci', 'wrong-again'), '10.0.0.1');
    const held = performance.now() - started;
    expect(refused).toMatchObject({ ok: false, reason: 'throttled' });
    // One strike: 2 s to the next token, of which 200 ms were spent holding the answer.
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(1_700);
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1_800);
    expect(held).toBeGreaterThanOrEqual(190);
    // A throttled check is not cached: once the wait is over it is checked for real.
    expect(basicAuth.verifyCached(encode('ci', 'wrong-again'), '10.0.0.1')).toBeUndefined();
  });

  it('refuses as busy, without caching, when the check queue is full', async () => {
    let release: (() => void) | undefined;
    const checks = new PasswordChecks({
      concurrency: 1,
      maxQueued: 0,
      verify: () => new Promise<boolean>((resolve) => (release = () => resolve(false))),
    });
    const basicAuth = new BasicAuthenticator(users, { log: captureLog().log, checks, refusalDelayMs: 0 });
    const first = basicAuth.verify(encode('ci', 'one'), '10.0.0.1');
    expect(await basicAuth.verify(encode('ghost', 'two'), '10.0.0.2')).toEqual({
      ok: false,
      reason: 'busy',
      retryAfterMs: 1_000,
    });
    expect(basicAuth.verifyCached(encode('ghost', 'two'), '10.0.0.2')).toBeUndefined();
    release?.();
    expect(await first).toMatchObject({ reason: 'wrong password' });
  });

  it('checks unknown names and wrong plaintext passwords against the decoy, of the costliest configured hash', async () => {
    const mixed = resolveUsers(
      [
        { name: 'cheap', password: { bcrypt: hashSync('x', 4) }, roles: [], permissions: [] },
        { name: 'dear', password: { bcrypt: hashSync('y', 6) }, roles: [], permissions: [] },
        { name: 'plain', password: { env: 'PLAIN' }, roles: [], permissions: [] },
      ],
      { PLAIN: 'plain-password' },
    );
    const decoyHash = await createDecoyHash(mixed);
    const basicAuth = new BasicAuthenticator(mixed, { log: captureLog().log, decoyHash });
    await basicAuth.verify(encode('nobody', 'guess'), '10.0.0.1');
    await basicAuth.verify(encode('plain', 'guess'), '10.0.0.1');
    expect((await basicAuth.verify(encode('plain', 'plain-password'), '10.0.0.1')).ok).toBe(true);
    const hashes = vi.mocked(verify).mock.calls.map((call) => call[1]);
    expect(hashes).toEqual([decoyHash, decoyHash]);
    expect(bcryptCost(decoyHash)).toBe(6);
  });

  it('takes as long to refuse an unknown name as a known one with a wrong password', async () => {
    const dear = hashSync('secret', 8);
    const two = resolveUsers([{ name: 'ci', password: { bcrypt: dear }, roles: [], permissions: [] }], {});
    const basicAuth = new BasicAuthenticator(two, { log: captureLog().log, decoyHash: await createDecoyHash(two) });
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let round = 0; round < 12; round++) {
      for (const [kind, user] of [
        ['known', 'ci'],
        ['unknown', `ghost-${round}`],
      ] as const) {
        const started = performance.now();
        await basicAuth.verify(encode(user, `guess-${round}`), '10.0.0.1');
        times[kind].push(performance.now() - started);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
    // A cost-8 bcrypt is ~15 ms here: a refusal without one would be under 1 ms.
    expect(median(times.unknown)).toBeGreaterThan(median(times.known) * 0.6);
    expect(median(times.unknown)).toBeLessThan(median(times.known) / 0.6);
  });
});
