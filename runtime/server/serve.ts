/**
 * `regctl serve`: build the plan, build its runtime state, bind the listeners, and run until
 * SIGTERM/SIGINT, then shut down gracefully: stop accepting, let in-flight requests finish
 * (bounded by the drain timeout), close stores and pools.
 *
 * An invalid config prints its diagnostics to stderr and rejects with a {@link ServeError} (whose
 * `exitCode` the CLI exits with), without binding anything. With `watch`, a {@link Reloader}
 * recompiles and swaps the plan when the config or a module it imports changes; SIGHUP reloads
 * whether or not `watch` is on.
 *
 * The startup build runs in this process, once (a reload's runs in a child process: reload.ts):
 * there is no plan to keep serving yet, no signal handler is installed while it runs (SIGTERM
 * ends a start whose config hangs), and it saves a child's start on the way to serving.
 */
import type { FastifyBaseLogger } from 'fastify';
import { describeConfigRevision } from '../../compiler/config-revision.ts';
import { buildPlan, formatDiagnostics } from '../../compiler/index.ts';
import type { Plan } from '../../compiler/plan.ts';
import { GcScheduler } from '../gc/scheduler.ts';
import { PrefetchScheduler } from '../prefetch/scheduler.ts';
import { ConfigWatcher } from '../reload/config-watcher.ts';
import { Reloader } from '../reload/reloader.ts';
import type { EndpointHealth } from '../upstream/endpoints.ts';
import { ListenerSet } from './listeners.ts';
import { createLogger } from './log.ts';
import { startMemoryReducer } from './memory-reducer.ts';
import { Observability, revisionLabel } from './observability.ts';
import { PlanHolder } from './plan-holder.ts';
import { createRuntimeState, type RuntimeFactories } from './state.ts';

export interface ServeOptions {
  /** Config file; default: `registry.config.*` searched in `cwd`. */
  readonly configPath?: string;
  readonly cwd?: string;
  /** Hot reload when the config or a module it imports changes (SIGHUP reloads regardless). */
  readonly watch?: boolean;
  /** Quiet time that ends a burst of file changes before a reload (default 50 ms). */
  readonly watchDebounceMs?: number;
  /** Poll the config's files (every second) instead of kernel notifications: NFS, some volumes. */
  readonly watchPolling?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: FastifyBaseLogger;
  /** Install SIGTERM/SIGINT handlers that close the server (default true). */
  readonly handleSignals?: boolean;
  /** How long shutdown waits for in-flight requests (default 30 s). */
  readonly drainTimeoutMs?: number;
  /** For tests: fake repositories, stores, access. */
  readonly factories?: RuntimeFactories;
  /** For tests: the first retry delay of webhook deliveries (default 1 s). */
  readonly notificationBackoffMs?: number;
}

/** A server started by {@link serve}. */
export interface RunningServer {
  readonly configPath: string;
  /** The environment secrets are resolved from (a reload builds with the same). */
  readonly env: NodeJS.ProcessEnv;
  /** The config and every module it imports. */
  readonly files: readonly string[];
  readonly holder: PlanHolder;
  readonly listeners: ListenerSet;
  readonly log: FastifyBaseLogger;
  /** The active plan. */
  readonly plan: Plan;
  /** Bound URLs by listener id, as bound at startup. */
  readonly urls: Readonly<Record<string, string>>;
  /** Runs reloads (SIGHUP, the watcher); `trigger()` to reload by hand. */
  readonly reloader: Reloader;
  /** Metrics (and their listener), the audit log and the webhooks. */
  readonly observability: Observability;
  /** Graceful shutdown; idempotent. */
  close(): Promise<void>;
  /** Resolves when the server has shut down (by `close()` or a signal). */
  readonly closed: Promise<void>;
}

/**
 * Startup failure; its `stack` is only the message, since the diagnostics were printed already.
 * `exitCode` is the CLI's: 2 when the config could not be loaded, 1 when it is invalid or the
 * server could not start.
 */
export class ServeError extends Error {
  readonly code: 'CONFIG_INVALID' | 'STARTUP_FAILED';
  readonly exitCode: 1 | 2;
  constructor(code: ServeError['code'], message: string, options: { cause?: unknown; exitCode?: 1 | 2 } = {}) {
    super(message, options);
    this.name = 'ServeError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.stack = message;
  }
}

export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const log = options.log ?? createLogger({ env });
  const startedAt = Date.now();
  const built = await buildPlan({
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env,
    // line:column would keep the TypeScript parser in this process for good; a config that does
    // not build ends it, so the parser's memory no longer matters then.
    positions: 'failed',
  });
  if (built.diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(built.diagnostics, 'text')}\n`);
  if (!built.ok) {
    throw new ServeError(
      'CONFIG_INVALID',
      `config ${built.configPath ?? ''} is invalid: not serving`.replace('  ', ' '),
      { exitCode: built.stage === 'load' ? 2 : 1 },
    );
  }
  const { plan } = built;

  let holder: PlanHolder;
  let listeners: ListenerSet;
  const observability = new Observability({
    log,
    ...(options.notificationBackoffMs === undefined ? {} : { notificationBackoffMs: options.notificationBackoffMs }),
  });
  try {
    const revision = describeConfigRevision(built.configPath, built.files);
    // The metrics socket, the audit file and the webhook secrets first: nothing serves without them.
    const observed = await observability.prepare(plan, env);
    let state: Awaited<ReturnType<typeof createRuntimeState>>;
    try {
      state = await createRuntimeState(plan, {
        env,
        log,
        observers: observability.metrics,
        ...(options.factories ? { factories: options.factories } : {}),
      });
    } catch (error) {
      await observed.abort();
      throw error;
    }
    holder = new PlanHolder(state, {
      durationMs: Date.now() - startedAt,
      configPath: built.configPath,
      revision: await revision,
    });
    listeners = new ListenerSet({
      holder,
      log,
      startedAt,
      observability,
      ...(options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs }),
    });
    try {
      await listeners.applyListeners(null, plan);
    } catch (error) {
      await holder.close();
      await observed.abort();
      throw error;
    }
    await observed.commit({ revision: revisionLabel(holder.config.servingRevision) });
  } catch (error) {
    const message = `cannot start: ${error instanceof Error ? error.message : String(error)}`;
    log.error({ err: error }, message);
    throw new ServeError('STARTUP_FAILED', message, { cause: error });
  }

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal, inFlight: holder.inFlight }, 'shutting down: draining in-flight requests');
    void close().then(
      () => {
        process.exitCode ??= 0;
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  let prefetch: PrefetchScheduler | undefined;
  const reloader = new Reloader({
    configPath: built.configPath,
    env,
    log,
    holder,
    listeners,
    observability,
    ...(options.factories ? { factories: options.factories } : {}),
    files: built.files,
    // A watched config reloads whenever it changes: keep its next evaluator started.
    spareEvaluator: Boolean(options.watch),
    onReload: (outcome) => {
      watcher?.setFiles(outcome.files.length > 0 ? outcome.files : [built.configPath]);
      // A changed repository restarts its prefetch; other reloads leave it alone (scheduler.ts).
      prefetch?.sync();
    },
  });
  const watcher = options.watch
    ? new ConfigWatcher({
        files: built.files,
        debounceMs: options.watchDebounceMs ?? 50,
        usePolling: options.watchPolling ?? false,
        onChange: (paths) => void reloader.trigger(`changed: ${paths.join(', ')}`),
      })
    : undefined;
  await watcher?.ready();
  // Garbage collection on the plan's gc.interval, and the stores' usage for /-/status.
  const gc = new GcScheduler(holder, log, { onRun: (run) => observability.metrics.storage.gcRun(run) });
  holder.reportStorage(() => gc.status());
  // Declared prefetch: each proxy's images pulled through it at start and every interval.
  prefetch = new PrefetchScheduler(holder, log);
  const prefetching = prefetch;
  holder.reportPrefetch((repository) => prefetching.status(repository));
  observability.metrics.storage.watch(() => gc.status());
  // Each proxy endpoint's breaker, read from the serving state at scrape time.
  observability.metrics.watchEndpoints(() =>
    [...holder.state.repositories.values()].flatMap((repository) => {
      const endpoints = (repository as { endpointHealth?: EndpointHealth[] }).endpointHealth;
      return endpoints === undefined ? [] : [{ repository: repository.name, endpoints }];
    }),
  );
  // Gives a burst's garbage back once idle (memory-reducer.ts).
  const reducer = startMemoryReducer({ inFlight: () => holder.inFlight, log });
  // SIGHUP: logrotate's signal (reopen the audit file) and the reload signal.
  const onHangup = () => {
    void observability.reopen();
    void reloader.trigger('SIGHUP');
  };
  if (options.handleSignals !== false) process.on('SIGHUP', onHangup);
  const close = (): Promise<void> => {
    closing ??= (async () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', onHangup);
      reducer?.stop();
      await watcher?.close();
      await reloader.close();
      await prefetch?.close();
      await gc.close();
      await listeners.close();
      await holder.close();
      await observability.close();
      log.info({ planId: holder.state.plan.id }, 'stopped');
      resolveClosed();
    })();
    return closing;
  };
  if (options.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  const urls = Object.fromEntries(listeners.listeners.map((bound) => [bound.id, bound.url]));
  log.info(
    {
      planId: plan.id,
      configPath: built.configPath,
      urls,
      watch: Boolean(options.watch),
      ...(observability.metricsUrl === undefined ? {} : { metrics: `${observability.metricsUrl}/metrics` }),
    },
    'serving',
  );
  return {
    configPath: built.configPath,
    env,
    files: built.files,
    holder,
    listeners,
    log,
    get plan() {
      return holder.state.plan;
    },
    urls,
    reloader,
    observability,
    close,
    closed,
  };
}
