import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ALICE_HASH,
  ALICE_PASSWORD,
  BOB_PASSWORD,
  basic,
  CAROL_HASH,
  CAROL_PASSWORD,
  createTestController,
  rejection,
  request,
} from './fixtures.ts';

// Spies around the real implementations: they count calls and change nothing.
vi.mock('@node-rs/bcrypt', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@node-rs/bcrypt')>();
  return { ...actual, verify: vi.fn(actual.verify) };
});
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const timingSafeEqual = vi.fn(actual.timingSafeEqual);
  return { ...actual, timingSafeEqual, default: { ...actual, timingSafeEqual } };
});
const { verify } = await import('@node-rs/bcrypt');
const { timingSafeEqual } = await import('node:crypto');

afterEach(() => vi.clearAllMocks());

const pull = (repository: string, name = `${repository}/app`) => ({ name, repository, actions: ['pull' as const] });
const push = (repository: string, name = `${repository}/app`) => ({
  name,
  repository,
  actions: ['pull' as const, 'push' as const],
});

describe('authorize: anonymous', () => {
  it('allows what the repository grants anonymously, as a null user', async () => {
    const { access } = await createTestController();
    await expect(access.authorize(request(), pull('public'))).resolves.toEqual({ user: null });
    await expect(access.authorize(request(), pull('docker-hub', 'docker-hub/library/alpine'))).resolves.toEqual({
      user: null,
    });
  });

  it('challenges with a Bearer realm, service and scope when anonymous may not', async () => {
    const { access } = await createTestController();
    const error = await rejection(access.authorize(request(undefined, 'reg.test:5000'), push('public', 'public/app')));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="http://reg.test:5000/-/token",service="regctl-test",scope="repository:public/app:pull,push"',
    );
  });

  it('challenges on a forced-authentication repository, and for an unknown repository', async () => {
    const { access } = await createTestController();
    expect((await rejection(access.authorize(request(), pull('private')))).code).toBe('UNAUTHORIZED');
    expect((await rejection(access.authorize(request(), pull('nope')))).code).toBe('UNAUTHORIZED');
  });

  it('challenges with Basic when tokens are disabled', async () => {
    const { access } = await createTestController({ tokenEnabled: false });
    const error = await rejection(access.authorize(request(), pull('private')));
    expect(error.headers['WWW-Authenticate']).toBe('Basic realm="regctl test",charset="UTF-8"');
  });
});

describe('authorize: the /v2/ ping', () => {
  it('challenges an anonymous ping when users are configured, even where anonymous may pull', async () => {
    const { access } = await createTestController();
    const scope = { base: true as const, ping: true, repositories: ['private', 'public'] };
    const error = await rejection(access.authorize(request(), scope));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="http://127.0.0.1:5000/-/token",service="regctl-test"',
    );
    // Empty Basic credentials (what skopeo sends with none configured) are anonymous, not a login.
    expect((await rejection(access.authorize(request('Basic Og=='), scope))).code).toBe('UNAUTHORIZED');
  });

  it('with Basic only, answers the anonymous ping with the Basic challenge alongside (docker stops at a Basic 401)', async () => {
    const { access } = await createTestController({ tokenEnabled: false });
    await expect(
      access.authorize(request(), { base: true, ping: true, repositories: ['private', 'public'] }),
    ).resolves.toEqual({ user: null, advertise: 'Basic realm="regctl test",charset="UTF-8"' });
    const none = await rejection(access.authorize(request(), { base: true, ping: true, repositories: ['private'] }));
    expect(none.headers['WWW-Authenticate']).toBe('Basic realm="regctl test",charset="UTF-8"');
  });

  it('answers anonymous for a listing authorized like the ping, and for a ping with no users configured', async () => {
    const { access } = await createTestController();
    await expect(access.authorize(request(), { base: true, repositories: ['private', 'public'] })).resolves.toEqual({
      user: null,
    });
    const open = await createTestController({ noUsers: true });
    await expect(
      open.access.authorize(request(), { base: true, ping: true, repositories: ['public'] }),
    ).resolves.toEqual({ user: null });
  });

  it('takes empty Basic credentials as anonymous: what anonymous may pull passes, a push is challenged', async () => {
    const { access } = await createTestController();
    await expect(
      access.authorize(request('Basic Og=='), { name: 'public/lib', repository: 'public', actions: ['pull'] }),
    ).resolves.toEqual({ user: null });
    const push = await rejection(
      access.authorize(request('Basic Og=='), { name: 'public/lib', repository: 'public', actions: ['push'] }),
    );
    expect(push.code).toBe('UNAUTHORIZED');
  });

  it('challenges without a scope when anonymous may pull from none', async () => {
    const { access } = await createTestController();
    const error = await rejection(access.authorize(request(), { base: true, repositories: ['private', 'registry'] }));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="http://127.0.0.1:5000/-/token",service="regctl-test"',
    );
  });

  it('answers any authenticated user, and refuses bad credentials even where anonymous would pass', async () => {
    const { access } = await createTestController();
    const base = { base: true as const, repositories: ['public'] };
    await expect(access.authorize(request(basic('bob', BOB_PASSWORD)), base)).resolves.toEqual({ user: 'bob' });
    expect((await rejection(access.authorize(request(basic('bob', 'wrong')), base))).code).toBe('UNAUTHORIZED');
  });
});

describe('authorize: Basic', () => {
  it('accepts a config bcrypt password, an env plaintext password and an env bcrypt hash', async () => {
    const { access } = await createTestController();
    await expect(access.authorize(request(basic('alice', ALICE_PASSWORD)), push('private'))).resolves.toEqual({
      user: 'alice',
    });
    await expect(access.authorize(request(basic('bob', BOB_PASSWORD)), pull('docker-internal'))).resolves.toEqual({
      user: 'bob',
    });
    await expect(access.authorize(request(basic('carol', CAROL_PASSWORD)), push('private'))).resolves.toEqual({
      user: 'carol',
    });
  });

  it('refuses a wrong password and an unknown user with 401, and logs who, where and why', async () => {
    const { access, lines } = await createTestController();
    expect((await rejection(access.authorize(request(basic('alice', 'nope')), pull('public')))).code).toBe(
      'UNAUTHORIZED',
    );
    expect((await rejection(access.authorize(request(basic('mallory', 'x')), pull('private')))).code).toBe(
      'UNAUTHORIZED',
    );
    const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'authentication failed');
    expect(failures).toMatchObject([
      { user: 'alice', ip: '127.0.0.1', reason: 'wrong password', level: 40 },
      { user: 'mallory', ip: '127.0.0.1', reason: 'unknown user', level: 40 },
    ]);
  });

  it('treats a user-supplied env plaintext password in constant time on digests; a wrong one costs the decoy bcrypt', async () => {
    const { access } = await createTestController();
    await access.authorize(request(basic('bob', 'short')), pull('docker-hub')).catch(() => undefined);
    // A wrong plaintext password is refused only after a bcrypt against the decoy, as an unknown
    // name is: otherwise a refusal in microseconds would tell that the name exists.
    expect(verify).toHaveBeenCalledTimes(1);
    await access.authorize(request(basic('mallory', 'short')), pull('docker-hub')).catch(() => undefined);
    expect(vi.mocked(verify).mock.calls[1]?.[1]).toBe(vi.mocked(verify).mock.calls[0]?.[1]);
    await access.authorize(request(basic('bob', BOB_PASSWORD)), pull('docker-hub'));
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
    for (const [a, b] of vi.mocked(timingSafeEqual).mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('denies with 403 an authenticated user without the permission', async () => {
    const { access } = await createTestController();
    const error = await rejection(access.authorize(request(basic('bob', BOB_PASSWORD)), push('docker-hub')));
    expect(error.code).toBe('DENIED');
    expect(error.status).toBe(403);
    expect(error.detail).toEqual([{ type: 'repository', name: 'docker-hub/app', actions: ['push'] }]);
    expect(
      (await rejection(access.authorize(request(basic('alice', ALICE_PASSWORD)), pull('docker-internal')))).code,
    ).toBe('DENIED');
  });

  it('matches permission globs against plan repository names, never the client-visible name', async () => {
    const { access } = await createTestController();
    const bob = request(basic('bob', BOB_PASSWORD));
    await expect(access.authorize(bob, pull('docker-internal', 'private/app'))).resolves.toEqual({ user: 'bob' });
    expect((await rejection(access.authorize(bob, pull('private', 'docker-hub/app')))).code).toBe('DENIED');
    const carol = request(basic('carol', CAROL_PASSWORD));
    const all = { name: 'x', repository: 'registry', actions: ['pull', 'push', 'delete'] as const };
    await expect(access.authorize(carol, { ...all, actions: [...all.actions] })).resolves.toEqual({ user: 'carol' });
  });

  it('gives logged-in users what anonymous gets too', async () => {
    const { access } = await createTestController();
    await expect(access.authorize(request(basic('alice', ALICE_PASSWORD)), pull('public'))).resolves.toEqual({
      user: 'alice',
    });
  });

  it('refuses malformed and unsupported Authorization headers with 401', async () => {
    const { access } = await createTestController();
    for (const header of ['Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`, 'Digest abc', 'Bearer']) {
      expect((await rejection(access.authorize(request(header), pull('public')))).code).toBe('UNAUTHORIZED');
    }
  });
});

describe('authorize: credential cache', () => {
  it('runs bcrypt once for repeated requests with the same credentials', async () => {
    const { access } = await createTestController();
    for (let i = 0; i < 20; i++) await access.authorize(request(basic('alice', ALICE_PASSWORD)), pull('private'));
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('shares one bcrypt between concurrent first requests', async () => {
    const { access } = await createTestController();
    const requests = Array.from({ length: 10 }, () =>
      access.authorize(request(basic('carol', CAROL_PASSWORD)), pull('private')),
    );
    await expect(Promise.all(requests)).resolves.toHaveLength(10);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('caches failures too, logging repeats at debug level only', async () => {
    const { access, lines } = await createTestController();
    for (let i = 0; i < 5; i++) {
      await access.authorize(request(basic('alice', 'wrong-pw')), pull('private')).catch(() => undefined);
    }
    expect(verify).toHaveBeenCalledTimes(1);
    const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'authentication failed');
    expect(failures.map((entry) => entry.level)).toEqual([40, 20, 20, 20, 20]);
  });

  it('refuses a bad token again from the cache, logging each refusal', async () => {
    const { access, lines } = await createTestController();
    for (let i = 0; i < 3; i++) {
      const refused = await rejection(access.authorize(request('Bearer not.a.jwt'), pull('private')));
      expect(refused.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    }
    const logged = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'bearer token refused');
    expect(logged).toHaveLength(3);
  });

  it('keeps a different password for the same user separate', async () => {
    const { access } = await createTestController();
    await access.authorize(request(basic('alice', 'wrong-pw')), pull('private')).catch(() => undefined);
    await expect(access.authorize(request(basic('alice', ALICE_PASSWORD)), pull('private'))).resolves.toEqual({
      user: 'alice',
    });
    expect(verify).toHaveBeenCalledTimes(2);
  });
});

describe('secrets never reach the log', () => {
  it('logs no password, hash or token at trace level through a whole session', async () => {
    const { access, text } = await createTestController();
    const attempts = [
      basic('alice', ALICE_PASSWORD),
      basic('alice', 'typo-secret-1'),
      basic('bob', BOB_PASSWORD),
      basic('carol', CAROL_PASSWORD),
      basic('nobody', 'typo-secret-2'),
      'Bearer not.a.jwt-secret-3',
    ];
    for (const header of attempts) {
      for (const scope of [pull('private'), push('docker-hub')]) {
        await access.authorize(request(header), scope).catch(() => undefined);
      }
    }
    const issued = await access.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:private/app:pull'] },
      () => 'private',
    );
    await access.authorize(request(`Bearer ${issued.token}`), pull('private'));
    const log = text();
    expect(log).toContain('authentication failed');
    const secrets = [
      ALICE_PASSWORD,
      BOB_PASSWORD,
      CAROL_PASSWORD,
      ALICE_HASH,
      CAROL_HASH,
      'typo-secret',
      'jwt-secret',
      issued.token,
    ];
    for (const secret of secrets) expect(log).not.toContain(secret);
    for (const header of attempts) expect(log).not.toContain(header.split(' ')[1]);
  });
});
