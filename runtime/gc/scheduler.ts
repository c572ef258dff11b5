/**
 * Garbage collection on a schedule while serving: every `gc.interval` of the active plan, one
 * pass over each of its blob stores (run.ts), on the state that is active when the pass starts
 * (leased for the pass, so a reload meanwhile does not close its stores). A reload that changes
 * the interval takes effect at the next check (at most 5 s later). Passes never overlap in
 * one process; across processes the store's lease keeps one collector at a time.
 *
 * The latest report of each store is kept for `/-/status`, with each store's usage (usage.ts),
 * measured in the background a few seconds after start, then every `usageEveryMs` (default
 * 10 min) and after every pass, so the status endpoint never walks a store.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { StateLease } from '../server/plan-holder.ts';
import type { RuntimeState } from '../server/state.ts';
import type { GcReport } from './collector.ts';
import { collectPlan } from './run.ts';
import { measureUsage, type StoreUsage } from './usage.ts';

/** What the scheduler needs of the server. */
export interface GcHost {
  readonly state: RuntimeState;
  acquire(): StateLease;
}

/** A store's last pass, as `/-/status` shows it. */
export interface GcRunSummary {
  readonly store: string;
  readonly at: string;
  readonly durationMs: number;
  readonly skipped?: string;
  readonly blobsDeleted: number;
  readonly manifestsDeleted: number;
  readonly tagsDeleted: number;
  readonly reclaimedBytes: number;
  readonly error?: string;
}

/** How often the active plan's interval is looked at again (a reload may have changed it). */
const CHECK_MS = 5_000;

/** See the module comment. */
export class GcScheduler {
  readonly #host: GcHost;
  readonly #log: FastifyBaseLogger;
  readonly #now: () => number;
  readonly #checkMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastStart: number;
  #closed = false;
  readonly #abort = new AbortController();
  readonly #last = new Map<string, GcRunSummary>();
  readonly #usage = new Map<string, StoreUsage>();
  readonly #usageEveryMs: number;
  #usageTimer: NodeJS.Timeout | undefined;
  #measuring: Promise<void> | undefined;

  constructor(
    host: GcHost,
    log: FastifyBaseLogger,
    options: { now?: () => number; checkMs?: number; usageEveryMs?: number; firstUsageAfterMs?: number } = {},
  ) {
    this.#host = host;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#checkMs = options.checkMs ?? CHECK_MS;
    this.#usageEveryMs = options.usageEveryMs ?? 600_000;
    this.#lastStart = this.#now();
    this.#schedule();
    this.#scheduleUsage(options.firstUsageAfterMs ?? 5_000);
  }

  /** The latest pass of each store (empty until one ran). */
  get lastRuns(): GcRunSummary[] {
    return [...this.#last.values()];
  }

  /** The latest usage of each store of the active plan (empty until measured). */
  get usage(): StoreUsage[] {
    const names = new Set(this.#host.state.stores.keys());
    return [...this.#usage.values()].filter((usage) => names.has(usage.store));
  }

  /** What `/-/status` shows under `storage`. */
  status(): { gc: GcRunSummary[]; usage: StoreUsage[] } {
    return { gc: this.lastRuns, usage: this.usage };
  }

  /** Measures every store's usage now (unless a measurement runs). */
  measureNow(): Promise<void> {
    this.#measuring ??= this.#measure().finally(() => {
      this.#measuring = undefined;
    });
    return this.#measuring;
  }

  #scheduleUsage(afterMs: number): void {
    if (this.#closed) return;
    this.#usageTimer = setTimeout(() => {
      void this.measureNow().then(() => this.#scheduleUsage(this.#usageEveryMs));
    }, afterMs);
    this.#usageTimer.unref();
  }

  async #measure(): Promise<void> {
    const lease = this.#host.acquire();
    try {
      for (const [name, store] of lease.state.stores) {
        try {
          this.#usage.set(name, await measureUsage(store, this.#now));
        } catch (error) {
          this.#log.warn({ err: error, store: name }, 'could not measure blob store usage');
        }
      }
    } finally {
      lease.release();
    }
  }

  /** Runs a pass now (unless one runs), and resolves when it is done. */
  runNow(): Promise<void> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops scheduling and waits for a running pass (its lease is released at its end). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#usageTimer !== undefined) clearTimeout(this.#usageTimer);
    await this.#running;
    await this.#measuring;
  }

  #schedule(): void {
    if (this.#closed) return;
    const interval = this.#host.state.plan.gc?.intervalMs ?? 0;
    const due = interval > 0 ? this.#lastStart + interval - this.#now() : Number.POSITIVE_INFINITY;
    this.#timer = setTimeout(
      () => {
        const current = this.#host.state.plan.gc?.intervalMs ?? 0;
        const run = current > 0 && this.#now() - this.#lastStart >= current;
        void (run ? this.runNow() : Promise.resolve()).then(() => this.#schedule());
      },
      Math.max(0, Math.min(due, this.#checkMs)),
    );
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    this.#lastStart = this.#now();
    const lease = this.#host.acquire();
    try {
      const { plan, stores } = lease.state;
      const reports = await collectPlan(plan, stores, { log: this.#log, pass: { signal: this.#abort.signal } });
      for (const report of reports) this.#last.set(report.store, summarize(report));
      void this.measureNow();
    } catch (error) {
      const at = new Date(this.#lastStart).toISOString();
      const message = error instanceof Error ? error.message : String(error);
      this.#log.error({ err: error }, 'scheduled garbage collection failed; nothing it had not checked was deleted');
      for (const store of lease.state.stores.keys()) {
        this.#last.set(store, {
          store,
          at,
          durationMs: this.#now() - this.#lastStart,
          blobsDeleted: 0,
          manifestsDeleted: 0,
          tagsDeleted: 0,
          reclaimedBytes: 0,
          error: message,
        });
      }
    } finally {
      lease.release();
    }
  }
}

function summarize(report: GcReport): GcRunSummary {
  return {
    store: report.store,
    at: report.startedAt,
    durationMs: report.durationMs,
    ...(report.skipped === undefined ? {} : { skipped: `lease held by ${report.skipped.heldBy.holder}` }),
    blobsDeleted: report.deleted.blobs.length,
    manifestsDeleted: report.deleted.manifests.length,
    tagsDeleted: report.deleted.tags.length,
    reclaimedBytes: report.reclaimedBytes,
  };
}
