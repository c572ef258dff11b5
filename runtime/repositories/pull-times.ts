/**
 * Last-pull times, recorded cheaply: a pull notes its key in memory (no I/O), and the notes are
 * written in a batch every `flushEveryMs`, each key only when its stored time is older than
 * `resolutionMs`. So a manifest pulled a thousand times an hour costs one small write an hour,
 * and never a write on the request's path. Cleanup rules (`notPulledFor`) and size-bounded proxy
 * caches (least recently pulled first) read these times; days-scale rules need no finer clock.
 *
 * The document of a key is the epoch ms of the pull, as text. Per replica: the newest replica's
 * write wins, which is the newest pull within the resolution.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { BlobStore } from '../storage/blob-store.ts';

/** Options of {@link PullTimes}. */
export interface PullTimesOptions {
  /** Batch period (default 60 s). */
  readonly flushEveryMs?: number;
  /** A stored time younger than this is not rewritten (default 1 h). */
  readonly resolutionMs?: number;
  /** Keys noted between flushes, at most (default 10 000); past it, a flush starts early. */
  readonly maxPending?: number;
  readonly now?: () => number;
  readonly log?: FastifyBaseLogger;
}

/** Reads a pull-time document: epoch ms, or undefined. */
export function parsePullTime(doc: Buffer | undefined): number | undefined {
  if (doc === undefined) return undefined;
  const value = Number(doc.toString('utf8'));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** See the module comment. */
export class PullTimes {
  readonly #store: BlobStore;
  readonly #flushEveryMs: number;
  readonly #resolutionMs: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #log: FastifyBaseLogger | undefined;
  /** key → time of the latest pull not yet written. */
  #pending = new Map<string, number>();
  /** The batch being written by the flush in progress (empty between flushes). */
  #inFlight = new Map<string, number>();
  /** key → time this instance last wrote (or found stored), so repeats cost nothing. */
  readonly #written = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(store: BlobStore, options: PullTimesOptions = {}) {
    this.#store = store;
    this.#flushEveryMs = options.flushEveryMs ?? 60_000;
    this.#resolutionMs = options.resolutionMs ?? 3_600_000;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
  }

  /** Notes a pull of `key` now. Synchronous and allocation-light: safe on every request. */
  note(key: string): void {
    const now = this.#now();
    const written = this.#written.get(key);
    if (written !== undefined && now - written < this.#resolutionMs) return;
    this.#pending.set(key, now);
    if (this.#pending.size >= this.#maxPending) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushEveryMs);
      this.#timer.unref();
    }
  }

  /**
   * The latest pull of `key` noted by this instance and not yet written (pending or being
   * written), or undefined: readers of the stored time add it, so a pull shows before the batch
   * reaches the store.
   */
  unwritten(key: string): number | undefined {
    return this.#pending.get(key) ?? this.#inFlight.get(key);
  }

  /** Writes what is pending; a failure is logged and the notes are dropped (a pull time is a hint). */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    this.#inFlight = batch;
    for (const [key, at] of batch) {
      try {
        const stored = parsePullTime(await this.#store.getMeta(key));
        if (stored === undefined || at - stored >= this.#resolutionMs) await this.#store.putMeta(key, String(at));
        this.#written.set(key, Math.max(at, stored ?? 0));
        if (this.#written.size > this.#maxPending) this.#written.delete(this.#written.keys().next().value as string);
      } catch (error) {
        this.#log?.warn({ err: error, key }, 'could not record a pull time');
      }
      batch.delete(key);
    }
    this.#inFlight = new Map();
  }
}
