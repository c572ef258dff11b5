/**
 * The bound sockets: one fastify app per `ListenerPlan`, keyed by the plan's listener id.
 *
 * Routes are not baked into an app: each request looks its listener's route table up in the state
 * it captured, so a reload that only changes routes needs no rebinding. What does need sockets is
 * diffed by {@link ListenerSet.applyListeners}: listeners new in the next plan are opened *before*
 * the caller swaps the state (a port that cannot be bound fails the reload while the old plan keeps
 * serving), and the returned `finish()` drains and closes the removed ones *after* the swap. A
 * listener whose TLS files changed is rebound in `finish()` (close, then open: the port is briefly
 * refused).
 */
import { readFile } from 'node:fs/promises';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ListenerPlan, Plan } from '../../compiler/plan.ts';
import type { ConnectionLimits } from '../http/limits.ts';
import { createRegistryApp } from './app.ts';
import type { Observability } from './observability.ts';
import type { PlanHolder } from './plan-holder.ts';

/** One listening app. */
export interface BoundListener {
  readonly id: string;
  readonly plan: ListenerPlan;
  readonly app: FastifyInstance;
  /** `http(s)://host:port` with the port actually bound (differs from the plan's when it says 0). */
  readonly url: string;
  readonly port: number;
}

/** What {@link ListenerSet.applyListeners} did and what is left for after the swap. */
export interface ListenerChange {
  readonly opened: readonly string[];
  readonly kept: readonly string[];
  /** Closed (or rebound) by `finish()`. */
  readonly removed: readonly string[];
  readonly rebound: readonly string[];
  /** Drains and closes removed listeners and rebinds changed ones; call after the swap. */
  finish(): Promise<void>;
}

export interface ListenerSetOptions {
  readonly holder: PlanHolder;
  readonly log: FastifyBaseLogger;
  readonly startedAt?: number;
  /** How long closing waits for in-flight requests before cutting connections (default 30 s). */
  readonly drainTimeoutMs?: number;
  /** Overrides of the connection limits (`CONNECTION_LIMITS`) of every listener; tests only. */
  readonly limits?: Partial<ConnectionLimits>;
  /** Metrics, audit log and webhooks of the process, handed to every app. */
  readonly observability?: Observability;
}

function bindingOf(listener: ListenerPlan): string {
  return JSON.stringify([listener.host, listener.port, listener.tls]);
}

export class ListenerSet {
  readonly #options: ListenerSetOptions;
  readonly #bound = new Map<string, BoundListener>();

  constructor(options: ListenerSetOptions) {
    this.#options = options;
  }

  /** The listeners currently bound, in id order. */
  get listeners(): BoundListener[] {
    return [...this.#bound.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  get(id: string): BoundListener | undefined {
    return this.#bound.get(id);
  }

  /**
   * Opens the listeners of `nextPlan` that are not bound yet. `previousPlan` is the plan being
   * replaced (null at startup); the diff is computed against what is actually bound, so a
   * half-applied earlier change cannot confuse it. On a bind failure every listener opened by this
   * call is closed again and the error is thrown.
   */
  async applyListeners(previousPlan: Plan | null, nextPlan: Plan): Promise<ListenerChange> {
    const next = new Map(nextPlan.listeners.map((listener) => [listener.id, listener]));
    const opened: string[] = [];
    const kept: string[] = [];
    const rebound: string[] = [];
    const removed = [...this.#bound.keys()].filter((id) => !next.has(id));
    try {
      for (const listener of next.values()) {
        const current = this.#bound.get(listener.id);
        if (!current) {
          this.#bound.set(listener.id, await this.#open(listener));
          opened.push(listener.id);
        } else if (bindingOf(current.plan) !== bindingOf(listener)) {
          rebound.push(listener.id);
        } else {
          kept.push(listener.id);
        }
      }
    } catch (error) {
      await Promise.allSettled(opened.map((id) => this.#close(id)));
      throw error;
    }
    this.#options.log.info(
      { previousPlanId: previousPlan?.id, planId: nextPlan.id, opened, kept, removed, rebound },
      'listeners applied',
    );
    return {
      opened,
      kept,
      removed,
      rebound,
      finish: async () => {
        await Promise.all(removed.map((id) => this.#close(id)));
        for (const id of rebound) {
          await this.#close(id);
          this.#bound.set(id, await this.#open(next.get(id)!));
        }
      },
    };
  }

  /** Stops accepting on every listener and waits for in-flight requests (bounded by the drain timeout). */
  async close(): Promise<void> {
    await Promise.all([...this.#bound.keys()].map((id) => this.#close(id)));
  }

  async #open(listener: ListenerPlan): Promise<BoundListener> {
    const https = listener.tls
      ? { cert: await readFile(listener.tls.certFile), key: await readFile(listener.tls.keyFile) }
      : undefined;
    const app = createRegistryApp({
      holder: this.#options.holder,
      listenerId: listener.id,
      log: this.#options.log,
      ...(https ? { https } : {}),
      ...(this.#options.startedAt === undefined ? {} : { startedAt: this.#options.startedAt }),
      ...(this.#options.limits ? { limits: this.#options.limits } : {}),
      ...(this.#options.observability ? { observability: this.#options.observability } : {}),
    });
    try {
      await app.listen({ host: listener.host, port: listener.port });
    } catch (error) {
      await app.close().catch(() => undefined);
      throw error;
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : listener.port;
    const host = listener.host.includes(':') ? `[${listener.host}]` : listener.host;
    const url = `${listener.tls ? 'https' : 'http'}://${host}:${port}`;
    this.#options.log.info({ listener: listener.id, url }, 'listening');
    return { id: listener.id, plan: listener, app, url, port };
  }

  async #close(id: string): Promise<void> {
    const bound = this.#bound.get(id);
    if (!bound) return;
    this.#bound.delete(id);
    const timeout = this.#options.drainTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      this.#options.log.warn({ listener: id, timeoutMs: timeout }, 'drain timeout: closing open connections');
      bound.app.server.closeAllConnections();
    }, timeout);
    timer.unref();
    // Node closes the connections idle at close() time only; a keep-alive connection whose last
    // response finishes later would hold the close open until its idle timeout. Sweep them.
    const sweeper = setInterval(() => bound.app.server.closeIdleConnections(), 50);
    sweeper.unref();
    try {
      await bound.app.close();
    } finally {
      clearTimeout(timer);
      clearInterval(sweeper);
    }
    this.#options.log.info({ listener: id }, 'listener closed');
  }
}
