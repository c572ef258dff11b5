/**
 * Hot reload: build → check → swap → dispose, one attempt at a time.
 *
 * A {@link Reloader} is triggered by the config watcher or SIGHUP. Each attempt builds the config
 * fresh in a child process ({@link ConfigEvaluator}: the config's modules never load into this
 * one), and only when every step succeeded does the new plan serve:
 * 1. an invalid config is rejected: the old plan keeps serving, the diagnostics are logged and
 *    recorded (`/-/status` shows `outcome: 'failed'`, `ok: false`, the time and the error); so is a config whose
 *    evaluation has not finished within the serving plan's `reload.timeout` (its child is killed),
 *    and one whose child died;
 * 2. the same plan id is recorded (`outcome: 'unchanged'`, in sync again) and nothing else happens;
 * 3. the new runtime state is built with the old one as `previous`: resources whose definition
 *    did not change (blob stores, a proxy's upstream) are leased from the shared pool, while
 *    repositories and the access controller are new (only a random token key carries over);
 * 4. new listeners are bound before the swap; a port that fails to bind aborts the reload and the
 *    new state is disposed, so nothing is half-applied;
 * 5. the holder swaps; removed listeners drain and close after it; the old state is disposed when
 *    its last in-flight request ends.
 *
 * Attempts are serialised: a trigger arriving during an attempt schedules exactly one more
 * afterwards (however many triggers arrived), which picks up the latest files. `close()` kills a
 * running evaluation, so shutdown never waits for a config that hangs.
 */
import type { FastifyBaseLogger } from 'fastify';
import { describeConfigRevision } from '../../compiler/config-revision.ts';
import { type BuildResult, diffPlans, formatDiagnostics, formatPlanDiff } from '../../compiler/index.ts';
import { DEFAULT_RELOAD_TIMEOUT_MS } from '../../compiler/plan.ts';
import type { ListenerSet } from '../server/listeners.ts';
import { type Observability, type ObservabilityChange, revisionLabel } from '../server/observability.ts';
import type { PlanHolder } from '../server/plan-holder.ts';
import { createRuntimeState, type RuntimeFactories } from '../server/state.ts';
import { ConfigEvaluator, EvaluationError, timeoutMessage } from './config-evaluator.ts';
import { computeReloadWarnings } from './warnings.ts';

/** What one reload attempt did. */
export interface ReloadOutcome {
  readonly status: 'applied' | 'unchanged' | 'failed';
  readonly previousPlanId: string;
  readonly planId: string;
  readonly durationMs: number;
  /** Why it failed. */
  readonly error?: string;
  /** `formatPlanDiff` of the change (applied reloads). */
  readonly diff?: string;
  readonly warnings: readonly string[];
  /** The config and its imports as of this attempt (what the watcher should watch). */
  readonly files: readonly string[];
}

export interface ReloaderOptions {
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: FastifyBaseLogger;
  readonly holder: PlanHolder;
  readonly listeners: ListenerSet;
  /** Metrics, audit log and webhooks: each attempt is recorded, a new plan's settings applied. */
  readonly observability?: Observability;
  readonly factories?: RuntimeFactories;
  /** Called after every attempt (the watcher's `setFiles`, tests). */
  readonly onReload?: (outcome: ReloadOutcome) => void;
  /** The files of the serving config (what an attempt that learnt none reports). */
  readonly files?: readonly string[];
  /**
   * Keep a child process started and idle for the next reload (default true), so that its start
   * is not on the reload's path; `serve` keeps one when it watches the config.
   */
  readonly spareEvaluator?: boolean;
  /**
   * For tests: builds in this process instead of a {@link ConfigEvaluator}. The timeout applies
   * all the same (the attempt stops waiting; only `signal` can stop the build itself).
   */
  readonly build?: (options: {
    configPath: string;
    env: NodeJS.ProcessEnv;
    signal: AbortSignal;
  }) => Promise<BuildResult>;
}

/** `promise`, or its rejection with the signal's reason once `signal` aborts (for builds that ignore it). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #count = 0;
  #files: readonly string[];
  readonly #evaluator: ConfigEvaluator | undefined;
  /** Aborts the running attempt's evaluation: `close()`, or the timeout of an injected build. */
  #evaluation: AbortController | undefined;

  constructor(options: ReloaderOptions) {
    this.#options = options;
    this.#files = options.files ?? [options.configPath];
    this.#evaluator = options.build
      ? undefined
      : new ConfigEvaluator({ spare: options.spareEvaluator ?? true, log: options.log });
  }

  /** Attempts made so far (applied, unchanged or failed). */
  get count(): number {
    return this.#count;
  }

  /**
   * Asks for a reload. Resolves when the attempt it caused (or joined) has finished; never
   * rejects: failures are logged and recorded on the holder.
   */
  trigger(reason: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      this.#options.log.debug({ reason }, 'reload queued behind the running one');
      return this.#running;
    }
    this.#running = this.#loop(reason).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * Stops accepting triggers, kills a running evaluation (that attempt fails, the plan stays) and
   * the spare child, and waits for the running attempt.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#evaluation?.abort(new Error('the server is shutting down'));
    await this.#running;
    await this.#evaluator?.close();
  }

  async #loop(reason: string): Promise<void> {
    let why = reason;
    for (;;) {
      this.#again = false;
      const outcome = await this.reloadOnce(why);
      const revision = this.#options.holder.lastReload.revision;
      this.#options.observability?.reload({
        status: outcome.status,
        reason: why,
        planId: outcome.planId,
        previousPlanId: outcome.previousPlanId,
        durationMs: outcome.durationMs,
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        ...(revision === undefined ? {} : { revision: revisionLabel(revision) }),
      });
      this.#options.onReload?.(outcome);
      if (!this.#again || this.#closed) return;
      why = 'changed during the previous reload';
    }
  }

  /** One attempt; exposed for tests and the benchmark. Does not serialise: use {@link trigger}. */
  async reloadOnce(reason: string): Promise<ReloadOutcome> {
    const { holder, listeners, log, env, configPath } = this.#options;
    this.#count += 1;
    const startedAt = performance.now();
    const old = holder.state;
    const elapsed = () => Math.round((performance.now() - startedAt) * 10) / 10;
    const timeoutMs = old.plan.reload?.timeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS;
    // The disk's git revision as of this attempt, looked up while the config evaluates.
    const revisionLookup = describeConfigRevision(configPath, this.#files);
    const evaluated = await this.#evaluate(configPath, env, timeoutMs);
    const revision = await revisionLookup;
    if (!evaluated.ok) {
      const error = `reload failed, keeping plan ${old.plan.id.slice(0, 12)}: ${evaluated.error}`;
      const durationMs = elapsed();
      holder.recordFailure(new Error(error), { durationMs, revision });
      log.error({ reason, previousPlanId: old.plan.id, durationMs, error }, 'reload rejected');
      const files = evaluated.files.length > 0 ? evaluated.files : this.#files;
      return {
        previousPlanId: old.plan.id,
        files,
        status: 'failed',
        planId: old.plan.id,
        durationMs,
        error,
        warnings: [],
      };
    }
    const built = evaluated.result;
    if (built.files.length > 0) this.#files = built.files;
    const base = { previousPlanId: old.plan.id, files: built.files } as const;
    if (!built.ok) {
      const error = `config invalid, keeping plan ${old.plan.id.slice(0, 12)}:\n${formatDiagnostics(built.diagnostics, 'text')}`;
      const durationMs = elapsed();
      holder.recordFailure(new Error(error), { durationMs, revision });
      log.error({ reason, previousPlanId: old.plan.id, durationMs, error }, 'reload rejected');
      return { ...base, status: 'failed', planId: old.plan.id, durationMs, error, warnings: [] };
    }
    const { plan } = built;
    if (plan.id === old.plan.id) {
      const durationMs = elapsed();
      holder.recordUnchanged({ durationMs, revision });
      log.info({ reason, planId: plan.id, durationMs }, 'reload: plan unchanged, nothing to do');
      return { ...base, status: 'unchanged', planId: plan.id, durationMs, warnings: [] };
    }
    const warnings = computeReloadWarnings(old.plan, plan);
    const diff = [formatPlanDiff(diffPlans(old.plan, plan)), ...warnings.map((w) => `warning: ${w}`)].join('\n');
    let next: Awaited<ReturnType<typeof createRuntimeState>> | undefined;
    let observed: ObservabilityChange | undefined;
    const { observability } = this.#options;
    try {
      next = await createRuntimeState(plan, {
        env,
        log,
        previous: old,
        ...(observability ? { observers: observability.metrics } : {}),
        ...(this.#options.factories ? { factories: this.#options.factories } : {}),
      });
      observed = await observability?.prepare(plan, env);
      const change = await listeners.applyListeners(old.plan, plan);
      const durationMs = elapsed();
      holder.swap(next, { durationMs, diff, revision });
      await observed?.commit({ revision: revisionLabel(revision) }).catch((error: unknown) => {
        log.error({ err: error }, 'reload: applying the metrics, audit or notification settings failed');
      });
      await change.finish().catch((error: unknown) => {
        log.error({ err: error }, 'reload: closing or rebinding listeners after the swap failed');
      });
      for (const warning of warnings) log.warn({ planId: plan.id }, `reload warning: ${warning}`);
      log.info({ reason, previousPlanId: old.plan.id, planId: plan.id, durationMs, diff }, 'reloaded');
      return { ...base, status: 'applied', planId: plan.id, durationMs, diff, warnings };
    } catch (cause) {
      if (next) await next.dispose().catch(() => undefined);
      await observed?.abort().catch(() => undefined);
      const message = cause instanceof Error ? cause.message : String(cause);
      const error = `reload aborted, keeping plan ${old.plan.id.slice(0, 12)}: ${message}`;
      const durationMs = elapsed();
      holder.recordFailure(new Error(error), { durationMs, revision });
      log.error({ reason, previousPlanId: old.plan.id, planId: plan.id, durationMs, error, diff }, 'reload failed');
      return { ...base, status: 'failed', planId: old.plan.id, durationMs, error, diff, warnings };
    }
  }

  /**
   * Builds the config (in a child, or with the injected `build`) within `timeoutMs`. Never
   * rejects: a timeout, a dead child or a shutdown is `ok: false` with the reason, and the files
   * the child had reported.
   */
  async #evaluate(
    configPath: string,
    env: NodeJS.ProcessEnv,
    timeoutMs: number,
  ): Promise<{ ok: true; result: BuildResult } | { ok: false; error: string; files: string[] }> {
    const controller = new AbortController();
    this.#evaluation = controller;
    if (this.#closed) controller.abort(new Error('the server is shutting down'));
    const { signal } = controller;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.#evaluator)
        return { ok: true, result: await this.#evaluator.evaluate({ configPath, env }, { timeoutMs, signal }) };
      // An injected build runs here: the attempt stops waiting for it at the timeout all the same.
      timer = setTimeout(() => controller.abort(new Error(timeoutMessage(timeoutMs))), timeoutMs);
      return { ok: true, result: await untilAborted(this.#options.build!({ configPath, env, signal }), signal) };
    } catch (cause) {
      const files = cause instanceof EvaluationError ? cause.files : [];
      return { ok: false, error: cause instanceof Error ? cause.message : String(cause), files };
    } finally {
      clearTimeout(timer);
      if (this.#evaluation === controller) this.#evaluation = undefined;
    }
  }
}
