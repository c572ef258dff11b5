/**
 * The one reference to the active runtime state, and the rule that makes reloads safe: a request
 * captures the state once, at its start ({@link PlanHolder.acquire}), and keeps it to the end, so a
 * swap never changes what an in-flight request sees. A replaced state is disposed only after its
 * last lease is released, which is what lets a reload close stores and pools without cutting
 * requests short.
 */
import type { ConfigRevision } from '../../compiler/config-revision.ts';
import type { RuntimeState } from './state.ts';

/**
 * What the status endpoint reports about the latest attempt to load the config: the initial load,
 * or the latest reload attempt whatever its outcome.
 */
export interface ReloadRecord {
  /** ISO time the attempt finished. */
  readonly at: string;
  /** `initial` (startup), `applied`, `unchanged` (the config compiles to the serving plan) or `failed`. */
  readonly outcome: 'initial' | 'applied' | 'unchanged' | 'failed';
  /** False only when the attempt failed. */
  readonly ok: boolean;
  /** Why it failed (the old state kept serving). */
  readonly error?: string;
  /** The plan serving after this reload. */
  readonly planId: string;
  /** The plan that served before it, when there was one. */
  readonly previousPlanId?: string;
  readonly durationMs?: number;
  /** A one-line summary of what changed (e.g. from `formatPlanDiff`), when the reloader gives one. */
  readonly diff?: string;
  /** The git revision of the config on disk at this attempt, when it is in a git checkout. */
  readonly revision?: ConfigRevision;
}

/** Whether the serving plan is what the config on disk compiles to, as of the latest attempt. */
export interface ConfigSync {
  /** The config file, when the holder was told (serve does). */
  readonly path?: string;
  /**
   * True when the latest attempt loaded the config on disk into the serving plan (or found it
   * already serving); false when it failed, so the disk holds a config that is not serving.
   */
  readonly inSync: boolean;
  /** The config's revision when the serving plan was loaded (or last confirmed unchanged). */
  readonly servingRevision?: ConfigRevision;
  /** ISO time the serving plan started serving. */
  readonly servingSince: string;
}

/** Optional parts of a record, as callers pass them. */
type RecordInfo = { durationMs?: number; diff?: string; revision?: ConfigRevision | undefined };

function optional(info: RecordInfo): Partial<ReloadRecord> {
  return {
    ...(info.durationMs === undefined ? {} : { durationMs: info.durationMs }),
    ...(info.diff === undefined ? {} : { diff: info.diff }),
    ...(info.revision === undefined ? {} : { revision: info.revision }),
  };
}

/** A request's hold on one state; `release()` is idempotent. */
export interface StateLease {
  readonly state: RuntimeState;
  release(): void;
}

/** One state and its in-flight count. */
class Generation {
  readonly state: RuntimeState;
  inFlight = 0;
  retired = false;
  readonly #onDrained: Array<() => void> = [];
  #disposal: Promise<void> | undefined;

  constructor(state: RuntimeState) {
    this.state = state;
  }

  /** Resolves once retired and idle, after the state is disposed (dispose errors are swallowed). */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.#onDrained.push(resolve);
      this.maybeDispose();
    });
  }

  maybeDispose(): void {
    if (!this.retired || this.inFlight > 0) return;
    this.#disposal ??= this.state.dispose().catch(() => undefined);
    const waiting = this.#onDrained.splice(0);
    void this.#disposal.then(() => {
      for (const resolve of waiting) resolve();
    });
  }
}

/** Load attempts kept in {@link PlanHolder.history}. */
export const RELOAD_HISTORY_SIZE = 50;

export class PlanHolder {
  #active: Generation;
  #lastReload: ReloadRecord;
  /** The latest attempts, newest first, at most {@link RELOAD_HISTORY_SIZE}. */
  #history: ReloadRecord[] = [];
  #sync: ConfigSync;
  #retiring = new Set<Generation>();

  readonly #configPath: string | undefined;
  #storageStatus: (() => unknown) | undefined;
  #prefetchStatus: ((repository: string) => unknown) | undefined;

  constructor(initial: RuntimeState, info: RecordInfo & { configPath?: string } = {}) {
    this.#active = new Generation(initial);
    this.#configPath = info.configPath;
    const at = new Date().toISOString();
    this.#lastReload = { at, outcome: 'initial', ok: true, planId: initial.plan.id, ...optional(info) };
    this.#history = [this.#lastReload];
    this.#sync = this.#synced(at, info.revision);
  }

  #synced(servingSince: string, revision: ConfigRevision | undefined): ConfigSync {
    return {
      ...(this.#configPath === undefined ? {} : { path: this.#configPath }),
      inSync: true,
      servingSince,
      ...(revision === undefined ? {} : { servingRevision: revision }),
    };
  }

  /**
   * What `/-/status` shows under `storage` (garbage collection and usage: runtime/gc/scheduler.ts),
   * or undefined when nothing reports it (tests without `serve`).
   */
  get storageStatus(): unknown {
    return this.#storageStatus?.();
  }

  /** A proxy repository's declared prefetch for `/-/status` (runtime/prefetch/), or undefined. */
  prefetchStatus(repository: string): unknown {
    return this.#prefetchStatus?.(repository);
  }

  /** Installs the provider of {@link prefetchStatus}. */
  reportPrefetch(provider: (repository: string) => unknown): void {
    this.#prefetchStatus = provider;
  }

  /** Installs the provider of {@link storageStatus}. */
  reportStorage(provider: () => unknown): void {
    this.#storageStatus = provider;
  }

  /** The active state: for code outside a request (status, reload). Requests use {@link acquire}. */
  get state(): RuntimeState {
    return this.#active.state;
  }

  get lastReload(): ReloadRecord {
    return this.#lastReload;
  }

  /** The latest load attempts (the initial load, then every reload), newest first, at most {@link RELOAD_HISTORY_SIZE}. */
  get history(): readonly ReloadRecord[] {
    return this.#history;
  }

  #record(record: ReloadRecord): void {
    this.#lastReload = record;
    this.#history = [record, ...this.#history.slice(0, RELOAD_HISTORY_SIZE - 1)];
  }

  /** Whether the serving plan matches the config on disk (see {@link ConfigSync}). */
  get config(): ConfigSync {
    return this.#sync;
  }

  /** Requests running on the active state and on replaced states still draining. */
  get inFlight(): number {
    let count = this.#active.inFlight;
    for (const generation of this.#retiring) count += generation.inFlight;
    return count;
  }

  /** Captures the active state for one request; call `release()` exactly when the request ends. */
  acquire(): StateLease {
    const generation = this.#active;
    generation.inFlight += 1;
    let released = false;
    return {
      state: generation.state,
      release: () => {
        if (released) return;
        released = true;
        generation.inFlight -= 1;
        generation.maybeDispose();
      },
    };
  }

  /**
   * Makes `next` the active state. The previous one is disposed once its in-flight requests end;
   * `drained` resolves then. New requests see `next` from the moment this returns.
   */
  swap(next: RuntimeState, info: RecordInfo = {}): { previous: RuntimeState; drained: Promise<void> } {
    const previous = this.#active;
    this.#active = new Generation(next);
    const at = new Date().toISOString();
    this.#record({
      at,
      outcome: 'applied',
      ok: true,
      planId: next.plan.id,
      previousPlanId: previous.state.plan.id,
      ...optional(info),
    });
    this.#sync = this.#synced(at, info.revision);
    return { previous: previous.state, drained: this.#retire(previous) };
  }

  /** Records an attempt that found the config compiling to the serving plan: in sync again. */
  recordUnchanged(info: RecordInfo = {}): void {
    this.#record({
      at: new Date().toISOString(),
      outcome: 'unchanged',
      ok: true,
      planId: this.#active.state.plan.id,
      ...optional(info),
    });
    this.#sync = this.#synced(this.#sync.servingSince, info.revision ?? this.#sync.servingRevision);
  }

  /** Records a failed reload: the active state keeps serving and the status endpoint says why. */
  recordFailure(error: unknown, info: RecordInfo = {}): void {
    this.#record({
      at: new Date().toISOString(),
      outcome: 'failed',
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      planId: this.#active.state.plan.id,
      ...optional(info),
    });
    this.#sync = { ...this.#sync, inSync: false };
  }

  /** Retires the active state: resolves after its requests (and every draining state's) end and all are disposed. */
  async close(): Promise<void> {
    await Promise.all([this.#retire(this.#active), ...[...this.#retiring].map((generation) => generation.drained())]);
  }

  #retire(generation: Generation): Promise<void> {
    generation.retired = true;
    this.#retiring.add(generation);
    return generation.drained().then(() => {
      this.#retiring.delete(generation);
    });
  }
}
