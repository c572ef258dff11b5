/**
 * The storage figures among the metrics: blob store and repository usage, proxy cache sizes and
 * their caps, garbage collection passes. Usage and cache sizes are read at scrape time from what
 * serve's GC scheduler last measured (runtime/gc/scheduler.ts: in memory, refreshed in the
 * background), so a scrape never walks a store; before the first measurement they are absent.
 * Labels are the plan's blob store and repository names: a store measured under a name the plan
 * no longer has, or a repository found in a store but not in the plan, is not exported.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Plan } from '../../compiler/plan.ts';
import { SeriesCache } from './series.ts';

/** What the scheduler holds (its `status()`), as far as the metrics read it. */
export interface StorageFigures {
  readonly usage: readonly {
    readonly store: string;
    readonly blobs: number;
    readonly bytes: number;
    readonly measuredAt: string;
    readonly repositories: readonly { readonly repository: string; readonly bytes: number }[];
  }[];
  readonly caches: readonly { readonly repository: string; readonly usedBytes: number }[];
}

/** One garbage collection pass of one store (the scheduler's summary of it). */
export interface GcRunFigures {
  readonly store: string;
  /** When the pass started (ISO 8601). */
  readonly at: string;
  readonly durationMs: number;
  readonly skipped?: string;
  readonly error?: string;
  readonly reclaimedBytes: number;
}

export class StorageMetrics {
  #enabled = false;
  #stores: ReadonlySet<string> = new Set();
  #repositories: ReadonlySet<string> = new Set();
  #source: (() => StorageFigures) | undefined;
  readonly #runs: SeriesCache<Counter.Internal>;
  readonly #reclaimed: SeriesCache<Counter.Internal>;
  readonly #lastRun: SeriesCache<Gauge.Internal<string>>;
  readonly #maxBytes: SeriesCache<Gauge.Internal<string>>;

  constructor(registry: Registry) {
    const registers = [registry];
    const figures = () => (this.#enabled ? this.#source?.() : undefined);
    const stores = () => this.#stores;
    const repositories = () => this.#repositories;
    /** A gauge whose series are set from the scheduler's figures at each scrape. */
    const fromFigures = (
      name: string,
      help: string,
      label: string,
      fill: (figures: StorageFigures, set: (value: string, n: number) => void) => void,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          const current = figures();
          if (current !== undefined) fill(current, (value, n) => this.set({ [label]: value }, n));
        },
      });
    const usage = (current: StorageFigures) => current.usage.filter((u) => stores().has(u.store));
    type StoreUsage = StorageFigures['usage'][number];
    const perStore: [string, string, (u: StoreUsage) => number][] = [
      ['regctl_blob_store_bytes', 'Bytes of the blobs in each blob store, as last measured', (u) => u.bytes],
      ['regctl_blob_store_blobs', 'Blobs (manifests included) in each blob store, as last measured', (u) => u.blobs],
      [
        'regctl_blob_store_measured_timestamp_seconds',
        'When the usage of each blob store was last measured (Unix time)',
        (u) => Date.parse(u.measuredAt) / 1000,
      ],
    ];
    for (const [name, help, pick] of perStore) {
      fromFigures(name, help, 'blob_store', (f, set) => {
        for (const u of usage(f)) set(u.store, pick(u));
      });
    }
    fromFigures(
      'regctl_repository_bytes',
      "Bytes of the distinct blobs each repository's images link (a blob shared by two repositories counts in both)",
      'repository',
      (f, set) => {
        for (const u of usage(f))
          for (const r of u.repositories) if (repositories().has(r.repository)) set(r.repository, r.bytes);
      },
    );
    fromFigures(
      'regctl_proxy_cache_bytes',
      'Bytes held by each size-bounded proxy cache (maxSize), as last measured',
      'repository',
      (f, set) => {
        for (const c of f.caches) if (repositories().has(c.repository)) set(c.repository, c.usedBytes);
      },
    );
    this.#maxBytes = new SeriesCache(
      new Gauge({
        name: 'regctl_proxy_cache_max_bytes',
        help: 'The maxSize of each size-bounded proxy cache',
        labelNames: ['repository'],
        registers,
      }),
    );
    this.#runs = new SeriesCache(
      new Counter({
        name: 'regctl_gc_runs_total',
        help: 'Garbage collection passes, per blob store and outcome: ok, skipped (another replica held the lease), failed',
        labelNames: ['blob_store', 'outcome'],
        registers,
      }),
    );
    this.#reclaimed = new SeriesCache(
      new Counter({
        name: 'regctl_gc_reclaimed_bytes_total',
        help: 'Bytes of the blobs garbage collection deleted, per blob store',
        labelNames: ['blob_store'],
        registers,
      }),
    );
    this.#lastRun = new SeriesCache(
      new Gauge({
        name: 'regctl_gc_last_run_timestamp_seconds',
        help: 'When the last garbage collection pass of each blob store ended, whatever its outcome (Unix time)',
        labelNames: ['blob_store'],
        registers,
      }),
    );
  }

  /** Where the usage figures come from (serve's GC scheduler). */
  watch(source: () => StorageFigures): void {
    this.#source = source;
  }

  /** Adopts `plan`: its stores and repositories bound the labels; its caps are exported. */
  applyPlan(plan: Plan, enabled: boolean): void {
    this.#enabled = enabled;
    this.#stores = new Set(Object.keys(plan.blobStores));
    this.#repositories = new Set(Object.keys(plan.repositories));
    for (const series of [this.#runs, this.#reclaimed, this.#lastRun]) series.prune(0, this.#stores);
    this.#maxBytes.clear();
    if (!enabled) return;
    for (const repository of Object.values(plan.repositories)) {
      if (repository.type === 'proxy' && repository.maxSizeBytes !== undefined)
        this.#maxBytes.get(repository.name).set(repository.maxSizeBytes);
    }
  }

  /** One pass of one store ended. */
  gcRun(run: GcRunFigures): void {
    if (!this.#enabled || !this.#stores.has(run.store)) return;
    const outcome = run.error !== undefined ? 'failed' : run.skipped !== undefined ? 'skipped' : 'ok';
    this.#runs.get(run.store, outcome).inc();
    this.#reclaimed.get(run.store).inc(run.reclaimedBytes);
    this.#lastRun.get(run.store).set((Date.parse(run.at) + run.durationMs) / 1000);
  }
}
