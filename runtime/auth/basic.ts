/**
 * HTTP Basic authentication (RFC 7617) against the user directory, with verified credentials
 * cached so that only the first request of a client pays for bcrypt, and failed logins throttled.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { credentialsAfter, isBasicCredentials } from './authorization.ts';
import { CredentialCache, type SettlingCheck, settling } from './credential-cache.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { PasswordChecks } from './password-checks.ts';
import { DECOY_BCRYPT_HASH, matchesPlain, type ResolvedUser } from './users.ts';

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

/**
 * The outcome of a Basic check: the user, why not, or that the check did not run (`throttled`:
 * too many failures from this address or for this name; `busy`: too many checks queued) and when
 * to ask again. A check that did not run is never cached.
 */
export type BasicResult =
  | { readonly ok: true; readonly user: ResolvedUser }
  | { readonly ok: false; readonly reason: BasicFailure }
  | { readonly ok: false; readonly reason: 'throttled' | 'busy'; readonly retryAfterMs: number };

/** Why a Basic check refused or did not run. */
type Refusal = Extract<BasicResult, { ok: false }>['reason'];
/** A Basic check that did not run. */
type NotChecked = Extract<BasicResult, { retryAfterMs: number }>;

const MALFORMED: BasicResult = { ok: false, reason: 'malformed Basic credentials' };
const UNKNOWN_USER: BasicResult = { ok: false, reason: 'unknown user' };
const WRONG_PASSWORD: BasicResult = { ok: false, reason: 'wrong password' };
/** Every check slot taken and the queue full: ask again in a second. */
const BUSY: BasicResult = { ok: false, reason: 'busy', retryAfterMs: 1_000 };

/** Log sink, checks, throttle and cache sizing of a {@link BasicAuthenticator}. */
export interface BasicAuthenticatorOptions {
  readonly log: FastifyBaseLogger;
  /** Where bcrypt verifications run (default: a {@link PasswordChecks} of its own). */
  readonly checks?: PasswordChecks;
  /** The failed-login throttle; null or absent: none. */
  readonly throttle?: LoginThrottle | null;
  /**
   * What unknown names and wrong plaintext passwords are checked against, so that every refusal
   * costs one bcrypt of the same cost (default {@link DECOY_BCRYPT_HASH}; see `createDecoyHash`).
   */
  readonly decoyHash?: string;
  /**
   * How long a refused check (throttled, busy) is held before it is answered, at most: so that a
   * flood of refused guesses arrives at the pace of the answers, one per connection per this
   * long, instead of as fast as the event loop can refuse them (default 1 s; the wait is a timer).
   */
  readonly refusalDelayMs?: number;
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
 * no bcrypt, no throttle. Concurrent first requests with the same credentials share one check.
 * Failures are cached briefly too, so a client hammering with a wrong password costs little, and
 * each fresh failure is logged as a warning with the user name, client address and reason.
 *
 * A check that is not cached asks the throttle first, then runs on the {@link PasswordChecks}
 * queue (libuv's pool, never the event loop). Every refusal costs the same: an unknown name or a
 * wrong plaintext password is checked against the decoy hash on the same queue, so neither the
 * response time nor the throttle tells which names exist.
 */
export class BasicAuthenticator {
  readonly #users: ReadonlyMap<string, ResolvedUser>;
  readonly #cache: CredentialCache<SettlingCheck<BasicResult>>;
  readonly #log: FastifyBaseLogger;
  readonly #checks: PasswordChecks;
  readonly #throttle: LoginThrottle | null;
  readonly #decoy: string;
  readonly #refusalDelayMs: number;

  constructor(users: ReadonlyMap<string, ResolvedUser>, options: BasicAuthenticatorOptions) {
    this.#users = users;
    this.#log = options.log;
    this.#checks = options.checks ?? new PasswordChecks();
    this.#throttle = options.throttle ?? null;
    this.#decoy = options.decoyHash ?? DECOY_BCRYPT_HASH;
    this.#refusalDelayMs = options.refusalDelayMs ?? 1_000;
    this.#cache = new CredentialCache({
      maxEntries: options.maxEntries ?? 10_000,
      ttlMs: options.ttlMs ?? 5 * 60_000,
      failureTtlMs: options.failureTtlMs ?? 10_000,
      now: options.now,
    });
  }

  /**
   * Checks `encoded`, the base64 credentials after `Basic ` (see `credentialsAfter`); `ip` is for
   * the throttle and the log. Never rejects for wrong credentials: resolves `{ ok: false }`.
   * Credentials that do not decode are refused without being cached, as are checks that did not
   * run (throttled, busy).
   */
  async verify(encoded: string, ip: string): Promise<BasicResult> {
    const credentials = decodeBasicCredentials(encoded);
    if (credentials === 'malformed') {
      this.#logFailure(undefined, ip, 'malformed Basic credentials', false);
      return MALFORMED;
    }
    const key = this.#cache.keyOf(encoded);
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      const result = await cached.promise;
      if (!result.ok) this.#logFailure(credentials.username, ip, result.reason, true);
      return result;
    }
    const admission = this.#throttle?.admit(ip, credentials.username);
    if (admission !== undefined && !admission.ok) {
      this.#logFailure(credentials.username, ip, 'throttled', false);
      return this.#refuse({ ok: false, reason: 'throttled', retryAfterMs: admission.retryAfterMs });
    }
    const check = settling(this.#check(credentials, admission?.trusted ?? false));
    this.#cache.set(key, check);
    let result: BasicResult;
    try {
      result = await check.promise;
    } catch (error) {
      admission?.finish('not checked');
      this.#cache.delete(key);
      throw error;
    }
    if (result.ok) {
      admission?.finish('success');
    } else if ('retryAfterMs' in result) {
      admission?.finish('not checked');
      this.#cache.delete(key);
      this.#logFailure(credentials.username, ip, result.reason, false);
      return this.#refuse(result);
    } else {
      admission?.finish('failure');
      this.#cache.markFailed(key);
      this.#logFailure(credentials.username, ip, result.reason, false);
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

  /**
   * Answers a check that did not run after holding it for up to the refusal delay (never longer
   * than the client is told to wait), its `retryAfterMs` reduced by the time held.
   */
  async #refuse(result: NotChecked): Promise<BasicResult> {
    const held = Math.min(result.retryAfterMs, this.#refusalDelayMs);
    if (held > 0) await delay(held);
    return { ok: false, reason: result.reason, retryAfterMs: result.retryAfterMs - held };
  }

  /**
   * Logs a refusal: a warning when a check ran and failed, debug for what cost nothing (a cached
   * failure, a throttled or busy refusal: under attack there are thousands a second).
   */
  #logFailure(user: string | undefined, ip: string, reason: Refusal, cached: boolean): void {
    const entry = { user, ip, reason, cached };
    if (cached || reason === 'throttled' || reason === 'busy') this.#log.debug(entry, 'authentication failed');
    else this.#log.warn(entry, 'authentication failed');
  }

  /**
   * The check itself. Every path that refuses runs exactly one bcrypt on the queue, with the
   * user's hash or the decoy (whose cost is the highest configured), so a refusal takes as long
   * for a name that does not exist as for one that does; only a right plaintext password is
   * answered without the queue.
   */
  async #check(credentials: BasicCredentials, trusted: boolean): Promise<BasicResult> {
    const user = this.#users.get(credentials.username);
    if (user === undefined) {
      const outcome = await this.#checks.verify(credentials.password, this.#decoy, trusted);
      return outcome === 'busy' ? BUSY : UNKNOWN_USER;
    }
    if (user.verifier.kind === 'plain') {
      if (matchesPlain(user.verifier, credentials.password)) return { ok: true, user };
      const outcome = await this.#checks.verify(credentials.password, this.#decoy, trusted);
      return outcome === 'busy' ? BUSY : WRONG_PASSWORD;
    }
    const outcome = await this.#checks.verify(credentials.password, user.verifier.hash, trusted);
    if (outcome === 'busy') return BUSY;
    return outcome ? { ok: true, user } : WRONG_PASSWORD;
  }
}
