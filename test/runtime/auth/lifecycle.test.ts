/** Controller lifecycle: secrets resolved at startup, and what a reload carries over. */
import { hashSync } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import { AuthSetupError, createAccessController } from '../../../runtime/auth/index.ts';
import {
  ALICE_PASSWORD,
  basic,
  CAROL_HASH,
  captureLog,
  createTestController,
  makePlan,
  rejection,
  request,
  resolveRepository,
  testEnv,
} from './fixtures.ts';

describe('startup', () => {
  it('names a missing password variable and never prints a value', async () => {
    const error = await createTestController({}, { env: { CAROL_PASSWORD: CAROL_HASH } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthSetupError);
    expect((error as AuthSetupError).code).toBe('AUTH_ENV_MISSING');
    expect((error as Error).message).toContain('BOB_PASSWORD');
    expect((error as Error).message).toContain("'bob'");
    expect((error as Error).message).not.toContain(CAROL_HASH);
  });

  it('names a missing signing key variable', async () => {
    const error = await createTestController({ signingKey: 'NOT_SET_KEY' }).catch((e: unknown) => e);
    expect((error as AuthSetupError).code).toBe('AUTH_ENV_MISSING');
    expect((error as Error).message).toContain('NOT_SET_KEY');
  });

  it('rejects a malformed bcrypt hash, in the config or in the environment', async () => {
    const inConfig = await createTestController({ aliceHash: '$2b$10$short' }).catch((e: unknown) => e);
    expect((inConfig as AuthSetupError).code).toBe('AUTH_BCRYPT_INVALID');
    const inEnv = await createTestController({}, { env: { ...testEnv(), CAROL_PASSWORD: '$2y$10$truncated' } }).catch(
      (e: unknown) => e,
    );
    expect((inEnv as AuthSetupError).code).toBe('AUTH_BCRYPT_INVALID');
    expect((inEnv as Error).message).toContain('CAROL_PASSWORD');
    expect((inEnv as Error).message).not.toContain('truncated');
  });
});

describe('reload', () => {
  it('carries the random token key over to the next controller, with the new plan still deciding', async () => {
    const { access: first } = await createTestController();
    const { token } = await first.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull,push'] },
      resolveRepository,
    );
    const { access: second } = await createTestController(
      { alicePermissions: [{ repositories: ['registry'], actions: ['pull'] }] },
      { previous: first },
    );
    await first.close();
    const scope = { name: 'team/app', repository: 'registry' };
    await expect(second.authorize(request(`Bearer ${token}`), { ...scope, actions: ['pull'] })).resolves.toEqual({
      user: 'alice',
    });
    expect((await rejection(second.authorize(request(`Bearer ${token}`), { ...scope, actions: ['push'] }))).code).toBe(
      'DENIED',
    );
  });

  it('does not carry a key over when the new plan names a shared signing key', async () => {
    const { access: first } = await createTestController();
    const { token } = await first.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull'] },
      resolveRepository,
    );
    const { access: second } = await createTestController({ signingKey: 'TOKEN_KEY' }, { previous: first });
    const error = await rejection(
      second.authorize(request(`Bearer ${token}`), { name: 'team/app', repository: 'registry', actions: ['pull'] }),
    );
    expect(error.code).toBe('UNAUTHORIZED');
  });

  it('forgets cached credentials: a changed password stops working at once, the new one works', async () => {
    const { access: first } = await createTestController();
    const pull = { name: 'team/app', repository: 'registry', actions: ['pull' as const] };
    await expect(first.authorize(request(basic('alice', ALICE_PASSWORD)), pull)).resolves.toEqual({ user: 'alice' });
    const { access: second } = await createTestController(
      { aliceHash: hashSync('alice-new-pw', 4) },
      { previous: first },
    );
    await first.close();
    expect((await rejection(second.authorize(request(basic('alice', ALICE_PASSWORD)), pull))).code).toBe(
      'UNAUTHORIZED',
    );
    await expect(second.authorize(request(basic('alice', 'alice-new-pw')), pull)).resolves.toEqual({ user: 'alice' });
  });

  it('refuses a removed user at once: cached Basic credentials and still-valid tokens alike', async () => {
    const { access: first } = await createTestController({ signingKey: 'TOKEN_KEY' });
    const pull = { name: 'team/app', repository: 'registry', actions: ['pull' as const] };
    const alice = request(basic('alice', ALICE_PASSWORD));
    await expect(first.authorize(alice, pull)).resolves.toEqual({ user: 'alice' });
    const { token } = await first.issueToken(alice, { scope: ['repository:team/app:pull'] }, resolveRepository);
    await expect(first.authorize(request(`Bearer ${token}`), pull)).resolves.toEqual({ user: 'alice' });
    const plan = makePlan({ signingKey: 'TOKEN_KEY' });
    const withoutAlice = {
      ...plan,
      security: { ...plan.security, users: plan.security.users.filter((user) => user.name !== 'alice') },
    };
    const second = await createAccessController(withoutAlice, {
      env: testEnv(),
      log: captureLog().log,
      previous: first,
    });
    await first.close();
    expect((await rejection(second.authorize(alice, pull))).code).toBe('UNAUTHORIZED');
    const refused = await rejection(second.authorize(request(`Bearer ${token}`), pull));
    expect(refused.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });
});
