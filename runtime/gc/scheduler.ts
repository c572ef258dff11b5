/**
 * Garbage collection on a schedule while serving: every `gc.interval` of the active plan, one
 * pass over each of its blob stores (run.ts), on the state that is active when the pass starts
 * (leased for the pass, so a reload meanwhile does not close its stores). A reload that changes
 * the interval takes effect at the next check (at most 5 s later). Passes never overlap in
 * one process; across processes the store's lease keeps one collector at a time.
 *
 * Size-bounded proxy caches (`maxSize`, eviction.ts) are watched every `evictCheckMs` (default
 * 1 s; in memory: a cache is measured again only when it fetched new bytes, and every 10 min for
 * what other replicas fetched); a cache over its cap gets a pass that evicts its least recently
 * used content (and collects whatever else is garbage), at once.
 *
 * The latest report of each store is kept for `/-/status`, with each store's usage (usage.ts),
 * measured in the background a few seconds after start, then every `usageEveryMs` (default
 * 10 min) and after every pass, so the status endpoint never walks a store.
 */
import type { FastifyBaseLogger } from 'fastify';
import { DEFAULT_GC_GRACE_PERIOD_MS } from '../../compiler/plan.ts';
import type { StateLease } from '../server/plan-holder.ts';
import type { RuntimeState } from '../server/state.ts';
import type { Digest } from '../storage/blob-store.ts';
import type { GcReport } from './collector.ts';
import { collectGarbage } from './collector.ts';
import { planEviction } from './eviction.ts';
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
  readonly #evictCheckMs: number;
  #evictTimer: NodeJS.Timeout | undefined;
  /** Per proxy repository: the usage last measured, and the instance's cachedBytes then. */
  readonly #caches = new Map<string, { bytes: number; at: number; seen: number; instance: object }>();
  readonly #sizes = new Map<Digest, number>();
  /** Evictions done, by repository (for `/-/status`). */
  readonly #evicted = new Map<string, { at: string; blobs: number; bytes: number }>();
  readonly #onRun: ((summary: GcRunSummary) => void) | undefined;

  constructor(
    host: GcHost,
    log: FastifyBaseLogger,
    options: {
      now?: () => number;
      checkMs?: number;
      usageEveryMs?: number;
      firstUsageAfterMs?: number;
      evictCheckMs?: number;
      /** Called with each store's summary when a pass ends (the metrics count passes). */
      onRun?: (summary: GcRunSummary) => void;
    } = {},
  ) {
    this.#host = host;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#checkMs = options.checkMs ?? CHECK_MS;
    this.#usageEveryMs = options.usageEveryMs ?? 600_000;
    this.#evictCheckMs = options.evictCheckMs ?? 1_000;
    this.#onRun = options.onRun;
    this.#lastStart = this.#now();
    this.#schedule();
    this.#scheduleUsage(options.firstUsageAfterMs ?? 5_000);
    this.#scheduleEvictions();
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
  status() {
    return {
      gc: this.lastRuns,
      usage: this.usage,
      caches: [...this.#caches].map(([repository, cache]) => ({
        repository,
        usedBytes: cache.bytes,
        measuredAt: new Date(cache.at).toISOString(),
        ...(this.#evicted.has(repository) ? { lastEviction: this.#evicted.get(repository) } : {}),
      })),
    };
  }

  #scheduleEvictions(): void {
    if (this.#closed) return;
    this.#evictTimer = setTimeout(() => {
      const check = this.#running ?? this.#checkCaches();
      void check
        .catch((error: unknown) => this.#log.warn({ err: error }, 'proxy cache size check failed'))
        .then(() => this.#scheduleEvictions());
    }, this.#evictCheckMs);
    this.#evictTimer.unref();
  }

  /** Measures the size-bounded caches that moved, and evicts from those over their cap. */
  async #checkCaches(): Promise<void> {
    const lease = this.#host.acquire();
    try {
      const { plan, stores, repositories } = lease.state;
      const byStore = new Map<string, Map<string, Map<string, Digest[]>>>();
      for (const repository of Object.values(plan.repositories)) {
        if (repository.type !== 'proxy' || repository.maxSizeBytes === undefined) continue;
        const store = stores.get(repository.blobStore);
        const instance = repositories.get(repository.name) as { cachedBytes?: number } | undefined;
        if (store === undefined || instance === undefined) continue;
        const seen = instance.cachedBytes ?? 0;
        const known = this.#caches.get(repository.name);
        const fresh = known !== undefined && this.#now() - known.at < this.#usageEveryMs;
        if (fresh && known.instance === instance && known.seen === seen) continue;
        const eviction = await planEviction(store, repository.name, repository.maxSizeBytes, this.#sizes);
        this.#caches.set(repository.name, { bytes: eviction.usedBytes, at: this.#now(), seen, instance });
        if (eviction.evictCount === 0) continue;
        this.#log.info(
          {
            repository: repository.name,
            usedBytes: eviction.usedBytes,
            maxSizeBytes: eviction.maxSizeBytes,
            evict: eviction.evictCount,
            evictBytes: eviction.evictBytes,
          },
          'proxy cache over its maxSize: evicting the least recently used content',
        );
        const forStore = byStore.get(repository.blobStore) ?? new Map<string, Map<string, Digest[]>>();
        forStore.set(repository.name, eviction.evict);
        byStore.set(repository.blobStore, forStore);
      }
      for (const [name, evict] of byStore) {
        const store = stores.get(name)!;
        const report = await collectGarbage(store, {
          gracePeriodMs: plan.gc?.gracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS,
          ...(plan.gc?.settleMs === undefined ? {} : { settleMs: plan.gc.settleMs }),
          evict,
          signal: this.#abort.signal,
        });
        this.#ended(summarize(report));
        for (const repository of evict.keys()) {
          this.#caches.delete(repository); // measure again next check
          const gone = report.deleted.blobs.filter((b) => b.reason.startsWith('evicted'));
          this.#evicted.set(repository, {
            at: report.startedAt,
            blobs: gone.length,
            bytes: gone.reduce((sum, b) => sum + b.size, 0),
          });
        }
      }
    } finally {
      lease.release();
    }
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

  #ended(summary: GcRunSummary): void {
    this.#last.set(summary.store, summary);
    this.#onRun?.(summary);
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
    if (this.#evictTimer !== undefined) clearTimeout(this.#evictTimer);
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
      for (const report of reports) this.#ended(summarize(report));
      void this.measureNow();
    } catch (error) {
      const at = new Date(this.#lastStart).toISOString();
      const message = error instanceof Error ? error.message : String(error);
      this.#log.error({ err: error }, 'scheduled garbage collection failed; nothing it had not checked was deleted');
      for (const store of lease.state.stores.keys()) {
        this.#ended({
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
