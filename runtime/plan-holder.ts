/**
 * The one reference to the active runtime state, and the rule that makes reloads safe: a request
 * captures the state once, at its start ({@link PlanHolder.acquire}), and keeps it to the end, so a
 * swap never changes what an in-flight request sees. A replaced state is disposed only after its
 * last lease is released, which is what lets a reload close stores and pools without cutting
 * requests short.
 */
import type { RuntimeState } from './state.ts';

/** What the status endpoint reports about the last reload (or the initial load). */
export interface ReloadRecord {
  /** ISO time the reload finished. */
  readonly at: string;
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

export class PlanHolder {
  #active: Generation;
  #lastReload: ReloadRecord;
  #retiring = new Set<Generation>();

  constructor(initial: RuntimeState, record?: Partial<ReloadRecord>) {
    this.#active = new Generation(initial);
    this.#lastReload = { at: new Date().toISOString(), ok: true, planId: initial.plan.id, ...record };
  }

  /** The active state: for code outside a request (status, reload). Requests use {@link acquire}. */
  get state(): RuntimeState {
    return this.#active.state;
  }

  get lastReload(): ReloadRecord {
    return this.#lastReload;
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
  swap(
    next: RuntimeState,
    info: { durationMs?: number; diff?: string } = {},
  ): { previous: RuntimeState; drained: Promise<void> } {
    const previous = this.#active;
    this.#active = new Generation(next);
    this.#lastReload = {
      at: new Date().toISOString(),
      ok: true,
      planId: next.plan.id,
      previousPlanId: previous.state.plan.id,
      ...(info.durationMs === undefined ? {} : { durationMs: info.durationMs }),
      ...(info.diff === undefined ? {} : { diff: info.diff }),
    };
    return { previous: previous.state, drained: this.#retire(previous) };
  }

  /** Records a failed reload: the active state keeps serving and the status endpoint says why. */
  recordFailure(error: unknown, info: { durationMs?: number } = {}): void {
    this.#lastReload = {
      at: new Date().toISOString(),
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      planId: this.#active.state.plan.id,
      ...(info.durationMs === undefined ? {} : { durationMs: info.durationMs }),
    };
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
