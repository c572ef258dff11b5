/**
 * Throttling of failed logins, per client address and per user name, so that guessing passwords
 * (one name from many addresses, or many names from one address) is slow and cheap to refuse.
 *
 * Each address and each user name (known or not: the two are treated alike, so a 429 says
 * nothing about which names exist) has a token bucket of `burst` tokens that refills at
 * `perMinute`. A password check takes a token from both buckets before it runs, so concurrent
 * guesses cannot overtake the count; a success gives them back, so only failures cost. A check
 * is refused (429, `Retry-After`) while either bucket is below one token. Backoff: every failure
 * that leaves a bucket empty doubles its refill interval (up to `maxBackoffMs`), until the
 * bucket has refilled completely.
 *
 * What is never throttled:
 * - credentials already proven: the credential cache and the connection memo answer them before
 *   any check, so a logged-in client never meets this throttle;
 * - a user logging in from an address where that same user name succeeded within the last day
 *   (a trusted pair), so an attacker sharing an address (a NAT, a CI runner) or spraying a name
 *   does not lock out its owner. A trusted pair's own failures still count, and `perUser.burst`
 *   of them in a row end the trust: sharing an address with a user buys an attacker that many
 *   guesses, no more.
 *
 * Memory is bounded: each of the three tables (addresses, names, trusted pairs) keeps at most
 * `maxTracked` entries, least recently used dropped first, and a bucket that has refilled
 * completely is dropped when met (it is the same as none). Names are kept as SHA-256 digests,
 * never as sent; IPv6 addresses count by their /64 prefix (one host usually owns a whole /64).
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { LoginThrottlePlan } from '../../compiler/plan.ts';

/** How long a success makes its (address, user name) pair trusted. */
const TRUST_MS = 24 * 60 * 60_000;
/** Most doublings of a bucket's refill interval. */
const MAX_STRIKES = 20;
/** Entries looked at per admission to drop refilled buckets and lapsed trust. */
const SWEEP_STEPS = 4;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, ms. */
  at: number;
  /** Failures that emptied the bucket since it was last full: the backoff exponent. */
  strikes: number;
}

interface Trust {
  until: number;
  /** Failures in a row since the last success. */
  failures: number;
}

/** How a check admitted by {@link LoginThrottle.admit} ended. */
export type AttemptOutcome = 'success' | 'failure' | 'not checked';

/** An admitted check: report its outcome once, with {@link finish}. */
export interface LoginAttempt {
  readonly ok: true;
  /** The pair proved itself before: its check goes first in the password-check queue. */
  readonly trusted: boolean;
  finish(outcome: AttemptOutcome): void;
}

/** A refused check: ask again after `retryAfterMs`. */
export interface LoginRefusal {
  readonly ok: false;
  readonly retryAfterMs: number;
}

/** Token buckets of failed logins; one per access controller (a reload starts them empty). */
export class LoginThrottle {
  readonly #plan: LoginThrottlePlan;
  readonly #now: () => number;
  readonly #addresses = new Map<string, Bucket>();
  readonly #names = new Map<string, Bucket>();
  readonly #trusted = new Map<string, Trust>();

  constructor(plan: LoginThrottlePlan, now: () => number = () => Date.now()) {
    this.#plan = plan;
    this.#now = now;
  }

  /** Entries held in each table, for tests and the memory bound. */
  get size(): { addresses: number; names: number; trusted: number } {
    return { addresses: this.#addresses.size, names: this.#names.size, trusted: this.#trusted.size };
  }

  /**
   * Whether a password check for `username` from `ip` may run now. An admitted check holds a
   * token of both buckets until {@link LoginAttempt.finish}.
   */
  admit(ip: string, username: string): LoginAttempt | LoginRefusal {
    const now = this.#now();
    const address = addressKey(ip);
    const name = nameKey(username);
    const pair = `${address} ${name}`;
    this.#sweep(now);
    const trust = this.#trusted.get(pair);
    if (trust !== undefined && trust.until > now) {
      return this.#attempt(true, (outcome) => {
        if (outcome === 'success') this.#trust(pair, this.#now());
        if (outcome !== 'failure') return;
        trust.failures++;
        if (trust.failures >= this.#plan.perUser.burst) this.#trusted.delete(pair);
        this.#fail(this.#addresses, address, 'perAddress');
        this.#fail(this.#names, name, 'perUser');
      });
    }
    const byAddress = this.#bucket(this.#addresses, address, 'perAddress', now);
    const byName = this.#bucket(this.#names, name, 'perUser', now);
    const wait = Math.max(this.#wait(byAddress, 'perAddress'), this.#wait(byName, 'perUser'));
    if (wait > 0) return { ok: false, retryAfterMs: Math.ceil(wait) };
    byAddress.tokens -= 1;
    byName.tokens -= 1;
    return this.#attempt(false, (outcome) => {
      if (outcome === 'failure') {
        this.#strike(byAddress);
        this.#strike(byName);
        return;
      }
      this.#refund(byAddress, 'perAddress');
      this.#refund(byName, 'perUser');
      if (outcome === 'success') this.#trust(pair, this.#now());
    });
  }

  #attempt(trusted: boolean, settle: (outcome: AttemptOutcome) => void): LoginAttempt {
    let done = false;
    return {
      ok: true,
      trusted,
      finish: (outcome) => {
        if (done) return;
        done = true;
        settle(outcome);
      },
    };
  }

  /** The up-to-date bucket of `key`, made full when absent, marked as recently used. */
  #bucket(table: Map<string, Bucket>, key: string, limit: Limit, now: number): Bucket {
    let bucket = table.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#plan[limit].burst, at: now, strikes: 0 };
    } else {
      table.delete(key);
      this.#refill(bucket, limit, now);
    }
    touch(table, key, bucket, this.#plan.maxTracked);
    return bucket;
  }

  #refill(bucket: Bucket, limit: Limit, now: number): void {
    const { burst } = this.#plan[limit];
    if (bucket.tokens < burst) {
      bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / this.#interval(bucket, limit));
      if (bucket.tokens >= burst) bucket.strikes = 0;
    }
    bucket.at = Math.max(bucket.at, now);
  }

  /** Milliseconds between two tokens of `bucket`: the base interval, doubled per strike. */
  #interval(bucket: Bucket, limit: Limit): number {
    const base = 60_000 / this.#plan[limit].perMinute;
    return Math.max(base, Math.min(base * 2 ** bucket.strikes, this.#plan.maxBackoffMs));
  }

  /** How long until `bucket` holds a whole token again (0: it does). */
  #wait(bucket: Bucket, limit: Limit): number {
    return bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) * this.#interval(bucket, limit);
  }

  /** A failure whose token was taken: a strike when it left the bucket empty. */
  #strike(bucket: Bucket): void {
    if (bucket.tokens < 1) bucket.strikes = Math.min(MAX_STRIKES, bucket.strikes + 1);
  }

  /** A failure of a trusted pair, whose check took no token: take one now if there is one. */
  #fail(table: Map<string, Bucket>, key: string, limit: Limit): void {
    const bucket = this.#bucket(table, key, limit, this.#now());
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.#strike(bucket);
  }

  #refund(bucket: Bucket, limit: Limit): void {
    bucket.tokens = Math.min(this.#plan[limit].burst, bucket.tokens + 1);
  }

  #trust(pair: string, now: number): void {
    this.#trusted.delete(pair);
    touch(this.#trusted, pair, { until: now + TRUST_MS, failures: 0 }, this.#plan.maxTracked);
  }

  /** Drops a few of the oldest entries that no longer matter: full buckets, lapsed trust. */
  #sweep(now: number): void {
    for (const [table, limit] of [
      [this.#addresses, 'perAddress'],
      [this.#names, 'perUser'],
    ] as const) {
      for (let step = 0; step < SWEEP_STEPS; step++) {
        const oldest = table.entries().next().value;
        if (oldest === undefined) break;
        const [key, bucket] = oldest;
        this.#refill(bucket, limit, now);
        if (bucket.tokens < this.#plan[limit].burst) break;
        table.delete(key);
      }
    }
    for (let step = 0; step < SWEEP_STEPS; step++) {
      const oldest = this.#trusted.entries().next().value;
      if (oldest === undefined || oldest[1].until > now) break;
      this.#trusted.delete(oldest[0]);
    }
  }
}

type Limit = 'perAddress' | 'perUser';

/** Sets `key` as the most recently used entry, dropping the least recently used beyond `max`. */
function touch<V>(table: Map<string, V>, key: string, value: V, max: number): void {
  table.set(key, value);
  if (table.size > max) table.delete(table.keys().next().value as string);
}

function nameKey(username: string): string {
  return createHash('sha256').update(username, 'utf8').digest('base64');
}

/**
 * What an address counts as: IPv4 as is (also when written IPv4-mapped, `::ffff:10.0.0.1`), IPv6
 * by its /64 prefix, anything else (a Unix socket's empty address) as the text itself.
 */
export function addressKey(ip: string): string {
  const bare = ip.split('%', 1)[0] ?? ip;
  const lower = bare.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  if (!isIPv6(bare)) return ip;
  const [head = '', tail] = lower.split('::', 2);
  const groups = (text: string) =>
    text === '' ? [] : text.split(':').flatMap((g) => (g.includes('.') ? [g, g] : [g]));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${all
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
