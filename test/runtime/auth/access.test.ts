import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { compileGlob } from '../../../compiler/plan.ts';
import { AccessPolicy, coversAll } from '../../../runtime/auth/access.ts';
import { createAccessController } from '../../../runtime/auth/index.ts';
import { captureLog, makePlan } from './fixtures.ts';

const HASH = `$2b$04$${'a'.repeat(53)}`;

describe('compileGlob', () => {
  it('matches `*` as any run of characters and everything else literally', () => {
    expect(compileGlob('docker-*').test('docker-hub')).toBe(true);
    expect(compileGlob('docker-*').test('docker-')).toBe(true);
    expect(compileGlob('docker-*').test('my-docker-hub')).toBe(false);
    expect(compileGlob('*').test('anything')).toBe(true);
    expect(compileGlob('*-cache').test('npm-cache')).toBe(true);
    expect(compileGlob('a*b*c').test('a-b-c')).toBe(true);
    expect(compileGlob('a*b*c').test('a-c')).toBe(false);
    expect(compileGlob('team.app').test('teamXapp')).toBe(false);
    expect(compileGlob('(x)+[y]').test('(x)+[y]')).toBe(true);
    expect(compileGlob('private').test('private2')).toBe(false);
  });
});

describe('AccessPolicy', () => {
  const plan: Plan = makePlan({ aliceHash: HASH });
  const users = Object.fromEntries(plan.security.users.map((user) => [user.name, user]));

  it('gives anonymous the repository anonymous actions, nothing on unknown repositories', () => {
    const policy = new AccessPolicy(plan);
    expect([...policy.anonymous('public')]).toEqual(['pull']);
    expect([...policy.anonymous('private')]).toEqual([]);
    expect([...policy.anonymous('missing')]).toEqual([]);
  });

  it('unions the permissions whose globs match, plus anonymous', () => {
    const policy = new AccessPolicy(plan);
    expect([...policy.allowed(users.alice!, 'registry')].sort()).toEqual(['pull', 'push']);
    expect([...policy.allowed(users.alice!, 'public')]).toEqual(['pull']);
    expect([...policy.allowed(users.alice!, 'docker-internal')]).toEqual([]);
    expect([...policy.allowed(users.bob!, 'docker-internal')]).toEqual(['pull']);
    expect([...policy.allowed(users.carol!, 'private')].sort()).toEqual(['delete', 'pull', 'push']);
    expect([...policy.allowed(users.carol!, 'missing')]).toEqual([]);
  });

  it('unions several permissions of one user', () => {
    const policy = new AccessPolicy(plan);
    const dave = {
      name: 'dave',
      permissions: [
        { repositories: ['priv*'], actions: ['pull' as const] },
        { repositories: ['private'], actions: ['delete' as const] },
      ],
    };
    expect([...policy.allowed(dave, 'private')].sort()).toEqual(['delete', 'pull']);
  });

  it('answers the ping: may anonymous pull from any of these?', () => {
    const policy = new AccessPolicy(plan);
    expect(policy.anonymousCanPullAny(['private', 'public'])).toBe(true);
    expect(policy.anonymousCanPullAny(['private', 'registry'])).toBe(false);
    expect(policy.anonymousCanPullAny([])).toBe(false);
  });

  it('coversAll checks every wanted action', () => {
    expect(coversAll(new Set(['pull', 'push']), ['pull'])).toBe(true);
    expect(coversAll(new Set(['pull']), ['pull', 'push'])).toBe(false);
    expect(coversAll(new Set(), [])).toBe(true);
  });
});

describe('AccessController.can', () => {
  it('answers per repository for a principal, for filtering the catalog', async () => {
    const access = await createAccessController(makePlan({ aliceHash: HASH }), {
      env: { BOB_PASSWORD: 'b', CAROL_PASSWORD: 'c' },
      log: captureLog().log,
    });
    const visible = (user: string | null) =>
      ['private', 'public', 'docker-hub', 'docker-internal', 'registry'].filter((repository) =>
        access.can!({ user }, repository, 'pull'),
      );
    expect(visible(null)).toEqual(['public', 'docker-hub']);
    expect(visible('alice')).toEqual(['private', 'public', 'docker-hub', 'registry']);
    expect(visible('bob')).toEqual(['public', 'docker-hub', 'docker-internal']);
    expect(visible('nobody')).toEqual([]);
    await access.close();
  });
});
