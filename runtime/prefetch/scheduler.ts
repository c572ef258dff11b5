/**
 * Declared prefetch while serving: each proxy repository with `prefetch` pulls its images through
 * itself once at start and then every `interval` (pull.ts), so they are cached before any client
 * asks and their tags follow the upstream. In-process, through the repository API — the same
 * proxy code path a client's pull takes (cache, revalidation, coalescing with clients' fetches,
 * stream-through verification) — rather than `regctl warm` over HTTP: no listener, route or
 * credentials are needed, and a proxy that no listener routes to is kept warm too.
 *
 * One job per repository, keyed by what its pulls depend on (the repository's plan, prefetch
 * included, and its blob store's): a reload that changes the key stops the job (its run is
 * aborted) and starts a new one, which waits for the old run to end and runs at once; a reload
 * that does not leaves the job and its timer alone. A job's runs never overlap (the next is timed
 * from the start of the previous one, and waits for it). Each image is pulled on the state active
 * when it starts (leased for that image), so a run never keeps a replaced state alive for long.
 * `close()` (SIGTERM) aborts every run and waits for it.
 *
 * A miss (an image that could not be pulled, or whose tag could not be revalidated) is logged at
 * warn with its reason, and each job's last run is kept for `/-/status` (per repository).
 */
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson, type PrefetchPlan } from '../../compiler/plan.ts';
import { RegistryError } from '../oci/errors.ts';
import type { StateLease } from '../server/plan-holder.ts';
import type { RuntimeState } from '../server/state.ts';
import { isPrefetchTarget, pullImage } from './pull.ts';

/** What the scheduler needs of the server. */
export interface PrefetchHost {
  readonly state: RuntimeState;
  acquire(): StateLease;
}

/** One image that is not (or not surely) cached after a run, and why. */
export interface PrefetchMiss {
  readonly image: string;
  readonly reason: string;
}

/** A run of one repository's prefetch, as `/-/status` shows it. */
export interface PrefetchRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly images: number;
  readonly ok: number;
  readonly misses: readonly PrefetchMiss[];
  /** Blobs fetched from the upstream in this run, and their bytes (0 when all was cached). */
  readonly blobsFetched: number;
  readonly bytes: number;
  /** The run was stopped (shutdown, or the repository's plan changed). */
  readonly aborted?: boolean;
}

/** A repository's prefetch under `/-/status` → `repositories[].prefetch`. */
export interface PrefetchStatus {
  readonly images: number;
  readonly intervalMs: number;
  readonly running: boolean;
  readonly nextRunAt: string | null;
  readonly lastRun: PrefetchRun | null;
}

/** Why an image could not be pulled, in one line. */
function reasonOf(error: unknown): string {
  if (error instanceof RegistryError) {
    const cause = (error.cause as Error | undefined)?.message;
    return `${error.code}: ${error.message}${cause !== undefined && cause !== error.message ? ` (${cause})` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

class PrefetchJob {
  readonly key: string;
  readonly #repository: string;
  readonly #plan: PrefetchPlan;
  readonly #host: PrefetchHost;
  readonly #log: FastifyBaseLogger;
  readonly #abort = new AbortController();
  readonly #onRun: ((repository: string, run: PrefetchRun) => void) | undefined;
  readonly done: Promise<void>;
  #running = false;
  #nextRunAt: number | null = null;
  #lastRun: PrefetchRun | null = null;

  constructor(
    repository: string,
    key: string,
    plan: PrefetchPlan,
    host: PrefetchHost,
    log: FastifyBaseLogger,
    after: Promise<void>,
    onRun?: (repository: string, run: PrefetchRun) => void,
  ) {
    this.#repository = repository;
    this.key = key;
    this.#plan = plan;
    this.#host = host;
    this.#log = log;
    this.#onRun = onRun;
    this.done = after.then(() => this.#loop());
  }

  status(): PrefetchStatus {
    return {
      images: this.#plan.images.length,
      intervalMs: this.#plan.intervalMs,
      running: this.#running,
      nextRunAt: this.#nextRunAt === null ? null : new Date(this.#nextRunAt).toISOString(),
      lastRun: this.#lastRun,
    };
  }

  /** Aborts the run in progress and the schedule; resolves when the job has ended. */
  stop(): Promise<void> {
    this.#abort.abort(new Error('prefetch stopped'));
    return this.done;
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      this.#nextRunAt = null;
      const started = await this.#run(signal);
      if (signal.aborted) return;
      this.#nextRunAt = started + this.#plan.intervalMs;
      await sleep(Math.max(0, this.#nextRunAt - Date.now()), signal);
    }
  }

  /** One run over every image; resolves to when it started. */
  async #run(signal: AbortSignal): Promise<number> {
    this.#running = true;
    const startedAt = Date.now();
    const misses: PrefetchMiss[] = [];
    let ok = 0;
    let blobsFetched = 0;
    let bytes = 0;
    for (const { name, reference } of this.#plan.images) {
      if (signal.aborted) break;
      const image = reference.includes(':') ? `${name}@${reference}` : `${name}:${reference}`;
      const lease = this.#host.acquire();
      try {
        const target = lease.state.repositories.get(this.#repository);
        if (!isPrefetchTarget(target)) throw new Error(`repository ${this.#repository} is not a proxy`);
        const pulled = await pullImage(target, name, reference, signal);
        blobsFetched += pulled.blobsFetched;
        bytes += pulled.bytes;
        if (pulled.stale) {
          misses.push({
            image,
            reason: `the upstream is unavailable: the tag was not revalidated; the cached ${pulled.digest} is kept`,
          });
        } else ok++;
      } catch (error) {
        if (signal.aborted) break;
        misses.push({ image, reason: reasonOf(error) });
      } finally {
        lease.release();
      }
    }
    for (const miss of misses) {
      this.#log.warn({ repository: this.#repository, image: miss.image, reason: miss.reason }, 'prefetch miss');
    }
    const finishedAt = Date.now();
    const run: PrefetchRun = {
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - startedAt,
      images: this.#plan.images.length,
      ok,
      misses,
      blobsFetched,
      bytes,
      ...(signal.aborted ? { aborted: true } : {}),
    };
    this.#lastRun = run;
    this.#running = false;
    this.#log.info(
      { repository: this.#repository, ok, misses: misses.length, blobsFetched, bytes, durationMs: run.durationMs },
      signal.aborted ? 'prefetch run stopped' : 'prefetch run done',
    );
    this.#onRun?.(this.#repository, run);
    return startedAt;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** See the module comment. */
export class PrefetchScheduler {
  readonly #host: PrefetchHost;
  readonly #log: FastifyBaseLogger;
  readonly #jobs = new Map<string, PrefetchJob>();
  readonly #onRun: ((repository: string, run: PrefetchRun) => void) | undefined;
  #closed = false;

  constructor(
    host: PrefetchHost,
    log: FastifyBaseLogger,
    options: { onRun?: (repository: string, run: PrefetchRun) => void } = {},
  ) {
    this.#host = host;
    this.#log = log;
    this.#onRun = options.onRun;
    this.sync();
  }

  /** Brings the jobs in line with the active plan (at start, and after every reload). */
  sync(): void {
    if (this.#closed) return;
    const { plan } = this.#host.state;
    const wanted = new Map<string, { key: string; prefetch: PrefetchPlan }>();
    for (const repository of Object.values(plan.repositories)) {
      if (repository.type !== 'proxy' || repository.prefetch === undefined) continue;
      const key = canonicalJson({ repository, store: plan.blobStores[repository.blobStore] });
      wanted.set(repository.name, { key, prefetch: repository.prefetch });
    }
    for (const [name, job] of this.#jobs) {
      if (wanted.get(name)?.key === job.key) continue;
      void job.stop();
      if (!wanted.has(name)) this.#jobs.delete(name);
    }
    for (const [name, { key, prefetch }] of wanted) {
      const current = this.#jobs.get(name);
      if (current?.key === key) continue;
      // A replaced job's run is aborted above; the new one starts when it has ended.
      const after = current === undefined ? Promise.resolve() : current.done.catch(() => {});
      const job = new PrefetchJob(name, key, prefetch, this.#host, this.#log.child({}), after, this.#onRun);
      job.done.catch((error: unknown) => this.#log.error({ err: error, repository: name }, 'prefetch job failed'));
      this.#jobs.set(name, job);
    }
  }

  /** The prefetch of `repository` for `/-/status`, or undefined when it declares none. */
  status(repository: string): PrefetchStatus | undefined {
    return this.#jobs.get(repository)?.status();
  }

  /** Stops every job (aborting runs in progress) and waits for them. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#jobs.values()].map((job) => job.stop().catch(() => {})));
    this.#jobs.clear();
  }
}
