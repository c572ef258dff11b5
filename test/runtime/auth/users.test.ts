import { hashSync, verify } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import type { UserPlan } from '../../../compiler/plan.ts';
import { isBcryptHash } from '../../../compiler/plan.ts';
import {
  AuthSetupError,
  bcryptCost,
  createDecoyHash,
  DECOY_BCRYPT_HASH,
  matchesPlain,
  type PasswordVerifier,
  resolveUsers,
} from '../../../runtime/auth/users.ts';

/** What a login checks: the plaintext comparison, or bcrypt as the password-check queue runs it. */
async function verifyPassword(verifier: PasswordVerifier, password: string): Promise<boolean> {
  return verifier.kind === 'plain' ? matchesPlain(verifier, password) : verify(password, verifier.hash);
}

/** Made with `htpasswd -nbBC 4 dave dave-htpasswd-pw` (apache2-utils writes the `$2y$` variant). */
const HTPASSWD_HASH = '$2y$04$oLOdkxBDl/PpEVx5rMkcruNUg.qrN1oNcof9L9hBMDVDSKrqIU3Pu';

const user = (name: string, password: UserPlan['password']): UserPlan => ({
  name,
  password,
  roles: [],
  permissions: [],
});

describe('resolveUsers', () => {
  it('detects bcrypt hashes ($2a$, $2b$, $2y$) in the environment, else takes a plaintext password', async () => {
    const b = hashSync('b-pass', 4);
    const a = b.replace(/^\$2b\$/, '$2a$');
    const users = resolveUsers(
      [
        user('plain', { env: 'P' }),
        user('a', { env: 'A' }),
        user('b', { env: 'B' }),
        user('y', { env: 'Y' }),
        user('config', { bcrypt: HTPASSWD_HASH }),
      ],
      { P: 'p-pass', A: a, B: b, Y: HTPASSWD_HASH },
    );
    expect(Object.fromEntries([...users].map(([name, u]) => [name, u.verifier.kind]))).toEqual({
      plain: 'plain',
      a: 'bcrypt',
      b: 'bcrypt',
      y: 'bcrypt',
      config: 'bcrypt',
    });
    expect(await verifyPassword(users.get('plain')!.verifier, 'p-pass')).toBe(true);
    expect(await verifyPassword(users.get('plain')!.verifier, 'p-pass ')).toBe(false);
    expect(await verifyPassword(users.get('a')!.verifier, 'b-pass')).toBe(true);
    expect(await verifyPassword(users.get('y')!.verifier, 'dave-htpasswd-pw')).toBe(true);
    expect(await verifyPassword(users.get('config')!.verifier, 'wrong')).toBe(false);
  });

  it('keeps plaintext passwords only as a SHA-256 digest', () => {
    const users = resolveUsers([user('plain', { env: 'P' })], { P: 'p-pass' });
    const verifier = users.get('plain')!.verifier;
    expect(verifier.kind === 'plain' && verifier.digest.length).toBe(32);
    expect(JSON.stringify(verifier)).not.toContain('p-pass');
  });

  it('reports every missing variable at once, by name', () => {
    const error = (() => {
      try {
        resolveUsers([user('x', { env: 'X_PW' }), user('y', { env: 'Y_PW' }), user('z', { env: 'Z_PW' })], {
          Z_PW: '',
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AuthSetupError);
    expect((error as AuthSetupError).message).toMatch(/X_PW.*'x'.*Y_PW.*'y'.*Z_PW.*'z'/);
  });

  it('isBcryptHash accepts well-formed hashes only', () => {
    expect(isBcryptHash(HTPASSWD_HASH)).toBe(true);
    expect(isBcryptHash(hashSync('x', 4))).toBe(true);
    expect(isBcryptHash('$2x$04$oLOdkxBDl/PpEVx5rMkcruNUg.qrN1oNcof9L9hBMDVDSKrqIU3Pu')).toBe(false);
    expect(isBcryptHash(`dave:${HTPASSWD_HASH}`)).toBe(false);
    expect(isBcryptHash('$2b$04$short')).toBe(false);
    // A cost bcrypt refuses (4-31) would make every login with it throw: not a hash.
    expect(isBcryptHash(`$2b$99$${'a'.repeat(53)}`)).toBe(false);
    expect(isBcryptHash(`$2b$03$${'a'.repeat(53)}`)).toBe(false);
    expect(isBcryptHash(`$2b$31$${'a'.repeat(53)}`)).toBe(true);
  });

  it('refuses at startup a bcrypt hash from the environment with a cost bcrypt cannot check', () => {
    const users = [{ name: 'x', password: { env: 'X_PW' }, roles: [], permissions: [] }];
    expect(() => resolveUsers(users, { X_PW: `$2b$99$${'a'.repeat(53)}` })).toThrow(AuthSetupError);
  });
});

describe('createDecoyHash', () => {
  const bcryptUser = (name: string, cost: number) => user(name, { bcrypt: hashSync(`${name}-pw`, cost) });

  it('matches the costliest configured hash, so an unknown name is never refused faster', async () => {
    const users = resolveUsers([bcryptUser('a', 4), bcryptUser('b', 5), user('c', { env: 'C' })], { C: 'plain' });
    const decoy = await createDecoyHash(users);
    expect(bcryptCost(decoy)).toBe(5);
    expect(decoy).not.toBe(await createDecoyHash(users)); // a fresh random secret each time
    expect(await verify('', decoy)).toBe(false);
  });

  it('uses the cost-10 constant when no user has a bcrypt hash, or all have cost 10', async () => {
    expect(await createDecoyHash(resolveUsers([user('c', { env: 'C' })], { C: 'plain' }))).toBe(DECOY_BCRYPT_HASH);
    expect(await createDecoyHash(new Map())).toBe(DECOY_BCRYPT_HASH);
    expect(bcryptCost(DECOY_BCRYPT_HASH)).toBe(10);
  });
});
