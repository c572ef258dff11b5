/**
 * Builds plans for hot reloads in short-lived child processes, one build per child.
 *
 * Why not in the serving process: evaluating a TypeScript config imports its module graph, and an
 * ES module is never unloaded (each reload left its bundle in the loader for good: the RSS grew
 * with every reload); a config that never resolves or loops forever would block every later
 * reload, the shutdown, or all serving. Why a process and not a worker thread: a worker's heap
 * was measured not to be given back to the process after the worker exits; a process's memory is.
 * A child therefore does exactly one build and exits, and its module cache, esbuild service and
 * (for an invalid config) the TypeScript parser that places diagnostics at line:column go with it.
 *
 * One spare child is kept started and idle (its compiler loaded, waiting for a request), so that
 * its start (≈ 0.2–0.3 s) is not on a reload's path; the next spare starts once a build is done
 * (beside it, it slowed the build down by half). A spare that dies while idle is replaced
 * only when the next build needs it (no restart loop). A caller bounds a build with an `AbortSignal` (the reloader's timeout, its shutdown):
 * an aborted build's child is killed at once (SIGKILL), and the promise rejects with an
 * {@link EvaluationError} carrying the files the child had reported, so the watcher keeps watching
 * a config that never finished.
 *
 * How the child is started ({@link defaultChildCommand}): from the sources (vitest, scripts under
 * `bin/run-ts.mjs`, the launcher's tsx fallback) as `node --import tsx/esm
 * runtime/reload/config-evaluator-child.ts`; from the launcher's bundle (`bin/regctl.mjs`), where this
 * module is a chunk, as `node config-evaluator-child.js`, an entry point of the same bundle beside
 * it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import type { BuildResult } from '../../compiler/build.ts';
import { computePlanId, deepFreeze } from '../../compiler/plan.ts';
import type { EvaluatorMessage, EvaluatorRequest } from './config-evaluator-child.ts';

/** Why a build gave no result. */
export type EvaluationErrorCode =
  | 'TIMEOUT'
  | 'ABORTED'
  | 'EVALUATOR_EXITED'
  | 'EVALUATOR_NOT_READY'
  | 'EVALUATOR_CLOSED'
  | 'PLAN_CORRUPTED';

/** A build that gave no {@link BuildResult}; `files` are the config's files as far as the child got. */
export class EvaluationError extends Error {
  readonly code: EvaluationErrorCode;
  readonly files: string[];
  constructor(code: EvaluationErrorCode, message: string, files: string[], options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'EvaluationError';
    this.code = code;
    this.files = files;
  }
}

export interface ConfigEvaluatorOptions {
  /** Keep one child started and idle for the next build (default true). */
  readonly spare?: boolean;
  /** Arguments to `node` that start a child; default {@link defaultChildCommand}. */
  readonly command?: readonly string[];
  /** The children's environment (what a config's `process.env` reads); default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: FastifyBaseLogger;
}

/** What one build needs: the config, and the environment the plan will run in. */
export interface EvaluationRequest {
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Bounds of one build. */
export interface EvaluationLimits {
  /**
   * How long the config may take, from the moment a started child has it (its own start is not
   * the config's fault, and has {@link START_TIMEOUT_MS}).
   */
  readonly timeoutMs: number;
  /** Aborts the build (shutdown): the child is killed, the promise rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** How long a child may take to start (load the compiler) before a build gives up on it. */
export const START_TIMEOUT_MS = 30_000;

/** `10000` → `10s`, `1500` → `1.5s`, `250` → `250ms`. */
export function formatTimeout(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

/** The message of a build that ran out of time. */
export function timeoutMessage(ms: number): string {
  return `the config's evaluation timed out after ${formatTimeout(ms)}`;
}

/** How much of a child's stderr an error message quotes. */
const STDERR_TAIL = 2000;

/**
 * `node` arguments that start the child entry: beside this module when it runs bundled, from the
 * sources with tsx's loader otherwise. Throws when the entry is missing (a broken install).
 */
export function defaultChildCommand(moduleUrl: string = import.meta.url): string[] {
  if (moduleUrl.endsWith('.ts')) {
    const entry = fileURLToPath(new URL('./config-evaluator-child.ts', moduleUrl));
    const tsx = createRequire(moduleUrl).resolve('tsx/esm');
    return ['--import', pathToFileURL(tsx).href, entry];
  }
  const entry = fileURLToPath(new URL('./config-evaluator-child.js', moduleUrl));
  if (!existsSync(entry)) throw new Error(`the config evaluator's entry ${entry} is missing from the bundle`);
  return [entry];
}

/** How long after its exit a child's pipes may stay open before it is taken as gone all the same. */
const EXIT_GRACE_MS = 1000;

/** One child: spawned, then ready, then given one request, then gone. */
class EvaluatorChild {
  readonly #process: ChildProcess;
  #ready = false;
  #requested = false;
  #exit: string | undefined;
  /** The process has exited; its verdict (`#exit`) waits until what it sent has been read. */
  #exiting = false;
  #stderr = '';
  #files: string[] = [];
  #request: EvaluatorRequest | undefined;
  #sent = false;
  /** The running build's callbacks, while there is one. */
  #onResult: ((result: BuildResult) => void) | undefined;
  #onSent: (() => void) | undefined;
  #onExit: (() => void) | undefined;
  readonly exited: Promise<void>;

  constructor(command: readonly string[], env: NodeJS.ProcessEnv, onIdleExit: (child: EvaluatorChild) => void) {
    this.#process = spawn(process.execPath, command, {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env,
      serialization: 'json',
    });
    // An idle spare must not keep the process alive, nor its stderr pipe.
    this.#process.unref();
    this.#process.channel?.unref();
    this.#process.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    (this.#process.stderr as { unref?: () => void } | null)?.unref?.();
    this.#process.on('message', (message: EvaluatorMessage) => this.#message(message));
    this.exited = new Promise((resolve) => {
      const gone = (how: string) => {
        if (this.#exit !== undefined) return;
        this.#exit = how;
        resolve();
        if (this.#onExit) this.#onExit();
        else onIdleExit(this);
      };
      // 'exit' can come before the last messages the child sent are read from the channel (Node
      // says so of 'exit'; a result sent just before exiting was seen lost under load): the
      // verdict waits for 'close', when the channel and the pipes are drained, or a short grace
      // when a grandchild keeps a pipe open (esbuild's service inherits stderr).
      this.#process.once('exit', (code, signal) => {
        const how = signal ? `on ${signal}` : `with code ${code}`;
        this.#exiting = true;
        const grace = setTimeout(() => gone(how), EXIT_GRACE_MS);
        grace.unref();
        this.#process.once('close', () => {
          clearTimeout(grace);
          gone(how);
        });
      });
      // Also a failed send to a child that just died: kept on, so a late one is never unhandled.
      this.#process.on('error', (error) => gone(`(${error.message})`));
    });
  }

  /** Whether this child can still take a request. */
  get usable(): boolean {
    return this.#exit === undefined && !this.#exiting && !this.#requested;
  }

  get stderrTail(): string {
    return this.#stderr.trim();
  }

  #message(message: EvaluatorMessage): void {
    if (message.type === 'ready') {
      this.#ready = true;
      if (this.#requested) this.#sendRequest();
    } else if (message.type === 'files') this.#files = message.files;
    else if (message.type === 'result') this.#onResult?.(message.result);
  }

  #sendRequest(): void {
    if (this.#request === undefined || this.#exit !== undefined || this.#sent) return;
    this.#sent = true;
    this.#process.send(this.#request);
    this.#onSent?.();
  }

  /**
   * Runs the one build of this child; the child is killed when the build settles, times out or
   * `signal` aborts.
   */
  run(request: EvaluationRequest, limits: EvaluationLimits): Promise<BuildResult> {
    const { signal, timeoutMs } = limits;
    this.#requested = true;
    // A build in progress keeps the process alive, as any pending I/O does (an idle spare does not).
    this.#process.ref();
    this.#process.channel?.ref();
    return new Promise<BuildResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        this.#onResult = undefined;
        this.#onSent = undefined;
        this.#onExit = () => undefined;
        signal?.removeEventListener('abort', onAbort);
        this.kill();
        outcome();
      };
      const fail = (code: EvaluationErrorCode, message: string, cause?: unknown) =>
        settle(() => reject(new EvaluationError(code, message, this.#files, { cause })));
      const onAbort = () => fail('ABORTED', reasonText(signal?.reason), signal?.reason);
      this.#onResult = (result) => settle(() => resolve(result));
      this.#onExit = () => {
        const stage = this.#sent ? 'before returning a result' : 'before it was ready';
        const tail = this.stderrTail ? `:\n${this.stderrTail}` : '';
        fail('EVALUATOR_EXITED', `the config evaluator exited ${this.#exit} ${stage}${tail}`);
      };
      this.#onSent = () => {
        clearTimeout(timer);
        timer = setTimeout(() => fail('TIMEOUT', timeoutMessage(timeoutMs)), timeoutMs);
      };
      if (signal?.aborted) return onAbort();
      if (this.#exit !== undefined) return this.#onExit();
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(
        () =>
          fail('EVALUATOR_NOT_READY', `the config evaluator did not start within ${formatTimeout(START_TIMEOUT_MS)}`),
        START_TIMEOUT_MS,
      );
      this.#request = { type: 'build', configPath: request.configPath, env: { ...request.env } };
      if (this.#ready) this.#sendRequest();
    });
  }

  kill(): void {
    if (this.#exit === undefined) this.#process.kill('SIGKILL');
  }
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? 'aborted' : String(reason);
}

export class ConfigEvaluator {
  readonly #command: readonly string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #keepSpare: boolean;
  readonly #log: FastifyBaseLogger | undefined;
  #spare: EvaluatorChild | undefined;
  readonly #children = new Set<EvaluatorChild>();
  #closed = false;

  constructor(options: ConfigEvaluatorOptions = {}) {
    this.#command = options.command ?? defaultChildCommand();
    this.#env = options.env ?? process.env;
    this.#keepSpare = options.spare ?? true;
    this.#log = options.log;
    if (this.#keepSpare) this.#spare = this.#start();
  }

  /** Children alive now (the spare included): for tests. */
  get childCount(): number {
    return this.#children.size;
  }

  /**
   * Loads, checks and compiles the config in a child, like `buildPlan` (diagnostics of a failed
   * build placed at line:column). Resolves with the result (a plan deep-frozen, its id checked);
   * rejects with an {@link EvaluationError} when the build times out or `signal` aborts (the child
   * is killed), the child dies or does not start, or the evaluator is closed.
   */
  async evaluate(request: EvaluationRequest, limits: EvaluationLimits): Promise<BuildResult> {
    if (this.#closed) throw new EvaluationError('EVALUATOR_CLOSED', 'the config evaluator is closed', []);
    const child = this.#spare?.usable ? this.#spare : this.#start();
    this.#spare = undefined;
    let result: BuildResult;
    try {
      result = await child.run(request, limits);
    } finally {
      // Not earlier: a child starting beside the build slows it down (measured: 50 → 90 ms on 2 cores).
      if (this.#keepSpare && !this.#closed) this.#spare = this.#start();
    }
    if (result.ok) {
      // Sent as JSON: what arrives must be the very plan the child hashed.
      if (computePlanId(result.plan) !== result.plan.id)
        throw new EvaluationError('PLAN_CORRUPTED', 'the plan changed on its way from the evaluator', result.files);
      deepFreeze(result.plan);
    }
    return result;
  }

  /** Kills the spare and any running build (those reject), and waits until they are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#spare = undefined;
    const children = [...this.#children];
    for (const child of children) child.kill();
    await Promise.all(children.map((child) => child.exited));
  }

  #start(): EvaluatorChild {
    const child = new EvaluatorChild(this.#command, this.#env, (idle) => {
      // A spare that died while idle is not replaced until the next build needs one (no restart loop).
      if (this.#spare === idle) this.#spare = undefined;
      if (!this.#closed) this.#log?.warn({ stderr: idle.stderrTail }, 'the spare config evaluator exited while idle');
    });
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }
}
