/**
 * HTTP Basic authentication (RFC 7617) against the user directory, with verified credentials
 * cached so that only the first request of a client pays for bcrypt.
 */
import type { FastifyBaseLogger } from 'fastify';
import { credentialsAfter, isBasicCredentials } from './authorization.ts';
import { CredentialCache, type SettlingCheck, settling } from './credential-cache.ts';
import { DECOY_BCRYPT_HASH, type ResolvedUser, verifyPassword } from './users.ts';

/** A decoded `Authorization: Basic` header. */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Decodes the credentials of a `Basic` authorization value (scheme case-insensitive). Returns
 * `'malformed'` when the value is Basic but cannot be decoded (no colon, empty user name).
 */
export function parseBasicAuthorization(value: string): BasicCredentials | 'malformed' {
  const encoded = credentialsAfter(value, 'basic');
  return encoded === undefined ? 'malformed' : decodeBasicCredentials(encoded);
}

/**
 * Decodes the base64 `user:password` that follows `Basic `; `'malformed'` when it holds other
 * characters, no colon, or an empty user name.
 */
function decodeBasicCredentials(encoded: string): BasicCredentials | 'malformed' {
  if (!isBasicCredentials(encoded)) return 'malformed';
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'malformed';
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Why Basic credentials were refused; logged, never shown to the client in more detail than 401. */
export type BasicFailure = 'unknown user' | 'wrong password' | 'malformed Basic credentials';

/** The outcome of a Basic check: the user, or why not. */
export type BasicResult =
  | { readonly ok: true; readonly user: ResolvedUser }
  | { readonly ok: false; readonly reason: BasicFailure };

const MALFORMED: BasicResult = { ok: false, reason: 'malformed Basic credentials' };

/** Log sink and cache sizing of a {@link BasicAuthenticator}. */
export interface BasicAuthenticatorOptions {
  readonly log: FastifyBaseLogger;
  /** Defaults: 10 000 entries, successes 5 min, failures 10 s. */
  readonly maxEntries?: number;
  readonly ttlMs?: number;
  readonly failureTtlMs?: number;
  readonly now?: () => number;
}

/**
 * Verifies the credentials of `Authorization: Basic` values. Results are cached per credential,
 * keyed by a keyed hash of the base64 text as the client sent it (see {@link CredentialCache}),
 * so a client re-sending what it logged in with costs one hash and one lookup: no base64 decoding,
 * no bcrypt. Concurrent first requests with the same credentials share one bcrypt. Failures are
 * cached briefly too, so a client hammering with a wrong password costs little, and each fresh
 * failure is logged as a warning with the user name, client address and reason.
 */
export class BasicAuthenticator {
  readonly #users: ReadonlyMap<string, ResolvedUser>;
  readonly #cache: CredentialCache<SettlingCheck<BasicResult>>;
  readonly #log: FastifyBaseLogger;

  constructor(users: ReadonlyMap<string, ResolvedUser>, options: BasicAuthenticatorOptions) {
    this.#users = users;
    this.#log = options.log;
    this.#cache = new CredentialCache({
      maxEntries: options.maxEntries ?? 10_000,
      ttlMs: options.ttlMs ?? 5 * 60_000,
      failureTtlMs: options.failureTtlMs ?? 10_000,
      now: options.now,
    });
  }

  /**
   * Checks `encoded`, the base64 credentials after `Basic ` (see `credentialsAfter`); `ip` is only
   * for the log. Never rejects for wrong credentials: resolves `{ ok: false }`. Credentials that do
   * not decode are refused without being cached.
   */
  async verify(encoded: string, ip: string): Promise<BasicResult> {
    const credentials = decodeBasicCredentials(encoded);
    if (credentials === 'malformed') {
      this.#logFailure(undefined, ip, 'malformed Basic credentials', false);
      return MALFORMED;
    }
    const key = this.#cache.keyOf(encoded);
    const { value, hit } = this.#cache.getOrCreate(key, () => settling(this.#check(credentials)));
    let result: BasicResult;
    try {
      result = await value.promise;
    } catch (error) {
      this.#cache.delete(key);
      throw error;
    }
    if (!result.ok) {
      if (!hit) this.#cache.markFailed(key);
      this.#logFailure(credentials.username, ip, result.reason, hit);
    }
    return result;
  }

  /**
   * The cached outcome for `encoded`, synchronously, when an earlier {@link verify} of the same
   * text has concluded and is still cached; undefined otherwise (then call {@link verify}). The
   * common request, a client sending the credentials it already logged in with, thus costs a
   * keyed hash and a map lookup. Text that never passed {@link verify}'s decoding is never found.
   */
  verifyCached(encoded: string, ip: string): BasicResult | undefined {
    const result = this.#cache.get(this.#cache.keyOf(encoded))?.result;
    if (result?.ok === false) {
      const credentials = decodeBasicCredentials(encoded);
      this.#logFailure(credentials === 'malformed' ? undefined : credentials.username, ip, result.reason, true);
    }
    return result;
  }

  /** Drops every cached result. */
  clear(): void {
    this.#cache.clear();
  }

  #logFailure(user: string | undefined, ip: string, reason: BasicFailure, cached: boolean): void {
    const entry = { user, ip, reason, cached };
    if (cached) this.#log.debug(entry, 'authentication failed');
    else this.#log.warn(entry, 'authentication failed');
  }

  async #check(credentials: BasicCredentials): Promise<BasicResult> {
    const user = this.#users.get(credentials.username);
    if (user === undefined) {
      // Same cost as a real check, so response times do not tell which user names exist.
      await verifyPassword({ kind: 'bcrypt', hash: DECOY_BCRYPT_HASH }, credentials.password);
      return { ok: false, reason: 'unknown user' };
    }
    const ok = await verifyPassword(user.verifier, credentials.password);
    return ok ? { ok: true, user } : { ok: false, reason: 'wrong password' };
  }
}
