/**
 * Hot reload: build → check → swap → dispose, one attempt at a time.
 *
 * A {@link Reloader} is triggered by the config watcher or SIGHUP. Each attempt loads the config
 * fresh (`buildPlan`), and only when every step succeeded does the new plan serve:
 * 1. an invalid config is rejected: the old plan keeps serving, the diagnostics are logged and
 *    recorded (`/-/status` shows `ok: false`, the time and the error);
 * 2. the same plan id is a no-op;
 * 3. the new runtime state is built with the old one as `previous` (unchanged stores, repositories
 *    and the access controller carry over);
 * 4. new listeners are bound before the swap; a port that fails to bind aborts the reload and the
 *    new state is disposed, so nothing is half-applied;
 * 5. the holder swaps; removed listeners drain and close after it; the old state is disposed when
 *    its last in-flight request ends.
 *
 * Attempts are serialised: a trigger arriving during an attempt schedules exactly one more
 * afterwards (however many triggers arrived), which picks up the latest files.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type BuildResult, buildPlan, diffPlans, formatDiagnostics, formatPlanDiff } from '../compiler/index.ts';
import type { ListenerSet } from './listeners.ts';
import type { PlanHolder } from './plan-holder.ts';
import { computeReloadWarnings } from './reload-warnings.ts';
import { createRuntimeState, type RuntimeFactories } from './state.ts';

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
  readonly factories?: RuntimeFactories;
  /** Called after every attempt (the watcher's `setFiles`, tests). */
  readonly onReload?: (outcome: ReloadOutcome) => void;
  /** For tests: replaces `buildPlan`. */
  readonly build?: (options: { configPath: string; env: NodeJS.ProcessEnv }) => Promise<BuildResult>;
}

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #count = 0;

  constructor(options: ReloaderOptions) {
    this.#options = options;
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

  /** Stops accepting triggers and waits for the running attempt. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  async #loop(reason: string): Promise<void> {
    let why = reason;
    for (;;) {
      this.#again = false;
      const outcome = await this.reloadOnce(why);
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
    const build = this.#options.build ?? buildPlan;
    // Paths only: line:column would keep the TypeScript parser in the serving process (build.ts).
    const built = await build({ configPath, env, positions: false });
    const base = { previousPlanId: old.plan.id, files: built.files } as const;
    if (!built.ok) {
      const error = `config invalid, keeping plan ${old.plan.id.slice(0, 12)}:\n${formatDiagnostics(built.diagnostics, 'text')}`;
      const durationMs = elapsed();
      holder.recordFailure(new Error(error), { durationMs });
      log.error({ reason, previousPlanId: old.plan.id, durationMs, error }, 'reload rejected');
      return { ...base, status: 'failed', planId: old.plan.id, durationMs, error, warnings: [] };
    }
    const { plan } = built;
    if (plan.id === old.plan.id) {
      const durationMs = elapsed();
      log.info({ reason, planId: plan.id, durationMs }, 'reload: plan unchanged, nothing to do');
      return { ...base, status: 'unchanged', planId: plan.id, durationMs, warnings: [] };
    }
    const warnings = computeReloadWarnings(old.plan, plan);
    const diff = [formatPlanDiff(diffPlans(old.plan, plan)), ...warnings.map((w) => `warning: ${w}`)].join('\n');
    let next: Awaited<ReturnType<typeof createRuntimeState>> | undefined;
    try {
      next = await createRuntimeState(plan, {
        env,
        log,
        previous: old,
        ...(this.#options.factories ? { factories: this.#options.factories } : {}),
      });
      const change = await listeners.applyListeners(old.plan, plan);
      const durationMs = elapsed();
      holder.swap(next, { durationMs, diff });
      await change.finish().catch((error: unknown) => {
        log.error({ err: error }, 'reload: closing or rebinding listeners after the swap failed');
      });
      for (const warning of warnings) log.warn({ planId: plan.id }, `reload warning: ${warning}`);
      log.info({ reason, previousPlanId: old.plan.id, planId: plan.id, durationMs, diff }, 'reloaded');
      return { ...base, status: 'applied', planId: plan.id, durationMs, diff, warnings };
    } catch (cause) {
      if (next) await next.dispose().catch(() => undefined);
      const message = cause instanceof Error ? cause.message : String(cause);
      const error = `reload aborted, keeping plan ${old.plan.id.slice(0, 12)}: ${message}`;
      const durationMs = elapsed();
      holder.recordFailure(new Error(error), { durationMs });
      log.error({ reason, previousPlanId: old.plan.id, planId: plan.id, durationMs, error, diff }, 'reload failed');
      return { ...base, status: 'failed', planId: old.plan.id, durationMs, error, diff, warnings };
    }
  }
}
