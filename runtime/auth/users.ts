/**
 * The user directory: the plan's users with their secrets resolved, once, when a controller is
 * created. A password comes from the config as a bcrypt hash, or from an environment variable
 * holding either a bcrypt hash or the plaintext password.
 *
 * Plaintext passwords are kept only as their SHA-256 digest and compared in constant time on
 * equal-length digests, so neither the comparison time nor a heap dump gives the password away.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash } from '@node-rs/bcrypt';
import { isBcryptHash, type PermissionPlan, type UserPlan } from '../../compiler/plan.ts';
import { readSecret } from '../secrets.ts';

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
      const value = readSecret(source, env);
      if (value === undefined) {
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
 * True when `password` matches a plaintext verifier: a constant-time comparison of SHA-256
 * digests, microseconds on the event loop. bcrypt verifiers go through a `PasswordChecks` queue.
 */
export function matchesPlain(verifier: Extract<PasswordVerifier, { kind: 'plain' }>, password: string): boolean {
  return timingSafeEqual(sha256(password), verifier.digest);
}

/** The cost a bcrypt hash was made with (the two digits after `$2b$`). */
export function bcryptCost(hash: string): number {
  return Number(hash.slice(4, 6));
}

/**
 * A bcrypt hash (cost 10) of a random string nobody knows: the decoy of a directory whose users'
 * hashes all have cost 10, or that has none (see {@link createDecoyHash}).
 */
export const DECOY_BCRYPT_HASH = '$2b$10$pNAmtNwBx/ZBYF5xuudpTOnpL38l1EySEs8O2wncMRqC.1r/CSAse';

/** The decoy's cost when no user has a bcrypt hash: what `htpasswd -B` users would rather have. */
const DEFAULT_DECOY_COST = 10;

/**
 * A bcrypt hash of a random secret, checked for user names that do not exist and for wrong
 * plaintext passwords, so that every refusal costs one bcrypt of the same cost: that of the most
 * expensive configured hash (10 when there is none). A user whose hash is cheaper than the others
 * fails faster than an unknown name, so give every user the same cost. Made on libuv's pool
 * (once per controller, tens of milliseconds); cost 10 reuses {@link DECOY_BCRYPT_HASH}.
 */
export async function createDecoyHash(users: ReadonlyMap<string, ResolvedUser>): Promise<string> {
  let cost = 0;
  for (const user of users.values()) {
    if (user.verifier.kind === 'bcrypt') cost = Math.max(cost, bcryptCost(user.verifier.hash));
  }
  if (cost === 0) cost = DEFAULT_DECOY_COST;
  if (cost === DEFAULT_DECOY_COST) return DECOY_BCRYPT_HASH;
  return hash(randomBytes(18).toString('base64'), cost);
}
