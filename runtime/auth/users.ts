/**
 * The user directory: the plan's users with their secrets resolved, once, when a controller is
 * created. A password comes from the config as a bcrypt hash, or from an environment variable
 * holding either a bcrypt hash or the plaintext password.
 *
 * Plaintext passwords are kept only as their SHA-256 digest and compared in constant time on
 * equal-length digests, so neither the comparison time nor a heap dump gives the password away.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { compare } from 'bcryptjs';
import { isBcryptHash, type PermissionPlan, type UserPlan } from '../../compiler/plan.ts';

/** Why a controller cannot start; never carries a secret's value, only where it was expected. */
export class AuthSetupError extends Error {
  readonly code: 'AUTH_ENV_MISSING' | 'AUTH_BCRYPT_INVALID';
  constructor(code: AuthSetupError['code'], message: string) {
    super(message);
    this.name = 'AuthSetupError';
    this.code = code;
  }
}

/** How one user's password is checked. */
export type PasswordVerifier =
  | { readonly kind: 'bcrypt'; readonly hash: string }
  | { readonly kind: 'plain'; readonly digest: Buffer };

export interface ResolvedUser {
  readonly name: string;
  readonly verifier: PasswordVerifier;
  readonly permissions: readonly PermissionPlan[];
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Resolves every user's password source against `env`.
 *
 * @throws AuthSetupError `AUTH_ENV_MISSING` naming the variable (and the user) when it is unset or
 *   empty, `AUTH_BCRYPT_INVALID` when a configured hash is malformed. All users are checked and
 *   every problem is reported in one error, so an operator fixes them in one go.
 */
export function resolveUsers(users: readonly UserPlan[], env: NodeJS.ProcessEnv): Map<string, ResolvedUser> {
  const resolved = new Map<string, ResolvedUser>();
  const missing: string[] = [];
  const malformed: string[] = [];
  for (const user of users) {
    const source = user.password;
    let verifier: PasswordVerifier | undefined;
    if ('bcrypt' in source) {
      if (isBcryptHash(source.bcrypt)) verifier = { kind: 'bcrypt', hash: source.bcrypt };
      else malformed.push(`security.users '${user.name}': the bcrypt hash is malformed`);
    } else {
      const value = env[source.env];
      if (value === undefined || value === '') {
        missing.push(`${source.env} (password of user '${user.name}')`);
      } else if (/^\$2[aby]\$/.test(value)) {
        if (isBcryptHash(value)) verifier = { kind: 'bcrypt', hash: value };
        else
          malformed.push(`environment variable ${source.env} (user '${user.name}') looks like a malformed bcrypt hash`);
      } else {
        verifier = { kind: 'plain', digest: sha256(value) };
      }
    }
    if (verifier) resolved.set(user.name, { name: user.name, verifier, permissions: user.permissions });
  }
  if (missing.length > 0) {
    throw new AuthSetupError(
      'AUTH_ENV_MISSING',
      `missing environment variable(s) for user passwords: ${missing.join(', ')}`,
    );
  }
  if (malformed.length > 0) throw new AuthSetupError('AUTH_BCRYPT_INVALID', malformed.join('; '));
  return resolved;
}

/**
 * Checks a password against a verifier: bcrypt for hashes, a constant-time comparison of SHA-256
 * digests for plaintext. This is the expensive step the credential cache exists to avoid.
 */
export async function verifyPassword(verifier: PasswordVerifier, password: string): Promise<boolean> {
  if (verifier.kind === 'bcrypt') return compare(password, verifier.hash);
  return timingSafeEqual(sha256(password), verifier.digest);
}

/**
 * A bcrypt hash (cost 10) of a random string nobody knows: checked against for unknown user names,
 * so that answering "no such user" takes as long as "wrong password" and does not reveal names.
 */
export const DECOY_BCRYPT_HASH = '$2b$10$pNAmtNwBx/ZBYF5xuudpTOnpL38l1EySEs8O2wncMRqC.1r/CSAse';
