/**
 * A bounded, expiring map from credentials to what verifying them concluded, so a request
 * with known credentials costs a hash and a map lookup instead of a bcrypt (tens of ms).
 *
 * Keys are never the raw secret: callers hand in the parts of a credential, and the cache keys
 * on a SHA-256 of them keyed with 32 random bytes made for this instance. A heap dump shows
 * digests that cannot be checked offline without that key, which lives and dies with the process.
 * (A one-shot keyed SHA-256 rather than an HMAC: a cache key needs preimage resistance under a
 * secret salt, not a MAC, and it is four times cheaper — this runs on every request.)
 */
import { hash, randomBytes } from 'node:crypto';

export interface CredentialCacheOptions {
  /** Most entries kept; the least recently used go first. */
  readonly maxEntries: number;
  /** How long a success is trusted, ms. */
  readonly ttlMs: number;
  /** How long a failure is remembered, ms: short, so a fixed password works again soon. */
  readonly failureTtlMs: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/**
 * A verification in flight that concurrent requests share (`promise`), with its outcome readable
 * synchronously once it has settled (`result`), so the common request — credentials verified
 * before — answers without awaiting anything.
 */
export interface SettlingCheck<T> {
  readonly promise: Promise<T>;
  result?: T;
}

/** Wraps `promise` so its outcome is recorded on the returned check when it resolves. */
export function settling<T>(promise: Promise<T>): SettlingCheck<T> {
  const check: SettlingCheck<T> = { promise };
  promise.then(
    (result) => {
      check.result = result;
    },
    () => {},
  );
  return check;
}

interface Entry<V> {
  readonly value: V;
  expiresAt: number;
  /** Read since it was last placed at the young end of the map: spared once by eviction. */
  used: boolean;
}

/**
 * LRU + TTL cache of credential checks. Values are usually promises, so concurrent requests with
 * the same new credentials share one verification (`getOrCreate`). Not shared between instances:
 * a reload builds a new controller with a new, empty cache.
 *
 * Recency is kept the "second chance" way rather than by moving an entry on every read: a hit
 * only flags the entry, and eviction moves flagged entries to the young end (clearing the flag)
 * until it meets one not read since. A hit, which is every request of a logged-in client, thus
 * never writes to the map; a `Map` delete + re-insert per hit cost as much as the keyed hash.
 */
export class CredentialCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #salt = randomBytes(32).toString('hex');
  readonly #options: Required<CredentialCacheOptions>;

  constructor(options: CredentialCacheOptions) {
    if (options.maxEntries < 1) throw new RangeError('maxEntries must be at least 1');
    this.#options = { ...options, now: options.now ?? (() => Date.now()) };
  }

  /** Number of live and not yet evicted entries (expired ones go lazily). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cache key of a credential: SHA-256 (hex) of the instance key and its parts, each
   * length-prefixed so that `('ab', 'c')` and `('a', 'bc')` never collide.
   */
  keyOf(...parts: readonly string[]): string {
    let input = this.#salt;
    for (const part of parts) input += `${part.length}:${part}`;
    return hash('sha256', input, 'hex');
  }

  /** The cached value, marked as recently used; undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#options.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    entry.used = true;
    return entry.value;
  }

  /**
   * Stores a value for `ttlMs` (success) or `failureTtlMs` (failure), first evicting the least
   * recently used entry if the cache is full.
   */
  set(key: string, value: V, outcome: 'success' | 'failure' = 'success'): void {
    const ttl = outcome === 'success' ? this.#options.ttlMs : this.#options.failureTtlMs;
    if (!this.#entries.delete(key) && this.#entries.size >= this.#options.maxEntries) this.#evictOne();
    this.#entries.set(key, { value, expiresAt: this.#options.now() + ttl, used: false });
  }

  /**
   * Shortens an entry's life to `ttlMs` from now if that is sooner (a failure learnt after the
   * pending promise was stored; a token that expires before the cache TTL).
   */
  expireWithin(key: string, ttlMs: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.expiresAt = Math.min(entry.expiresAt, this.#options.now() + ttlMs);
  }

  /**
   * Marks an entry stored by {@link getOrCreate} as a failure once its verification concluded so:
   * it lives at most `failureTtlMs` from now.
   */
  markFailed(key: string): void {
    this.expireWithin(key, this.#options.failureTtlMs);
  }

  /**
   * The cached value for `key`, or the result of `create()` stored as a success. Used with
   * promise values so one verification serves every concurrent request with the same credential.
   */
  getOrCreate(key: string, create: () => V): { value: V; hit: boolean } {
    const cached = this.get(key);
    if (cached !== undefined) return { value: cached, hit: true };
    const value = create();
    this.set(key, value);
    return { value, hit: false };
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /**
   * Drops the oldest entry not read since it was placed, giving read ones a second chance at the
   * young end. Bounded: after one pass every flag is cleared, so at most `size + 1` steps.
   */
  #evictOne(): void {
    for (let steps = this.#entries.size; steps >= 0; steps--) {
      const [key, entry] = this.#entries.entries().next().value as [string, Entry<V>];
      this.#entries.delete(key);
      if (!entry.used || steps === 0) return;
      entry.used = false;
      this.#entries.set(key, entry);
    }
  }
}
