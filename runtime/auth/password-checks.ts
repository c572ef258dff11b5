/**
 * bcrypt verifications off the event loop, a bounded number at a time.
 *
 * `@node-rs/bcrypt` runs each verification on libuv's thread pool, so the event loop only hands
 * the work over and receives the answer. That pool is small (4 threads unless
 * `UV_THREADPOOL_SIZE` says otherwise) and shared with file I/O, DNS lookups and async `crypto`:
 * left unbounded, a flood of password guesses would occupy every thread for tens of milliseconds
 * each, and the file reads of pulls would queue behind them. So at most {@link concurrency}
 * checks run at once (by default the pool's size less two, at least one), leaving threads for
 * the registry's own I/O; at most `maxQueued` more wait for a slot, and a check beyond that is
 * refused as `'busy'` without running (the caller answers 429 and the client retries).
 *
 * Checks from a client that proved itself before (see `LoginThrottle`'s trusted pairs) wait in a
 * lane of their own that is served first, so a flood of guesses from elsewhere delays them by at
 * most the checks already running.
 */
import { availableParallelism } from 'node:os';
import { verify as bcryptVerify } from '@node-rs/bcrypt';

/** What a {@link PasswordChecks} queue is given; the defaults suit a registry process. */
export interface PasswordChecksOptions {
  /** Most verifications running at once (default: {@link defaultCheckConcurrency}). */
  readonly concurrency?: number;
  /** Most checks waiting in each lane before further ones are refused (default 32). */
  readonly maxQueued?: number;
  /** The verification itself, for tests (default `@node-rs/bcrypt`'s `verify`). */
  readonly verify?: (password: string, hash: string) => Promise<boolean>;
}

/**
 * libuv's pool size less two (so file I/O keeps at least two threads), at least one and at most
 * the machine's cores less one (so bcrypt never takes every core from the event loop).
 */
export function defaultCheckConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const pool = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10);
  const threads = Number.isInteger(pool) && pool > 0 ? Math.min(pool, 1024) : 4;
  return Math.max(1, Math.min(threads - 2, availableParallelism() - 1));
}

/** The outcome of {@link PasswordChecks.verify}: the verdict, or `'busy'` when it did not run. */
export type CheckOutcome = boolean | 'busy';

/**
 * A bounded queue of bcrypt verifications; one per access controller. Never rejects for a wrong
 * password (resolves false); rejects only if the verification itself fails.
 */
export class PasswordChecks {
  readonly concurrency: number;
  readonly #maxQueued: number;
  readonly #verify: (password: string, hash: string) => Promise<boolean>;
  #running = 0;
  /** Waiting checks of clients proven before: served first. */
  readonly #trusted: (() => void)[] = [];
  readonly #others: (() => void)[] = [];

  constructor(options: PasswordChecksOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? defaultCheckConcurrency());
    this.#maxQueued = Math.max(0, options.maxQueued ?? 32);
    this.#verify = options.verify ?? ((password, hash) => bcryptVerify(password, hash));
  }

  /** Checks running now. */
  get running(): number {
    return this.#running;
  }

  /** Checks waiting for a slot, in both lanes. */
  get queued(): number {
    return this.#trusted.length + this.#others.length;
  }

  /**
   * Verifies `password` against the bcrypt `hash` once a slot is free; `trusted` puts the check
   * in the lane served first. Resolves `'busy'` at once, without verifying, when every slot is
   * taken and the lane already holds `maxQueued` checks.
   */
  async verify(password: string, hash: string, trusted = false): Promise<CheckOutcome> {
    if (this.#running < this.concurrency) {
      this.#running++;
    } else {
      const lane = trusted ? this.#trusted : this.#others;
      if (lane.length >= this.#maxQueued) return 'busy';
      // The slot is handed over by #release: #running already counts this check when it wakes.
      await new Promise<void>((resolve) => lane.push(resolve));
    }
    try {
      return await this.#verify(password, hash);
    } finally {
      this.#release();
    }
  }

  #release(): void {
    const next = this.#trusted.shift() ?? this.#others.shift();
    if (next === undefined) this.#running--;
    else next();
  }
}
