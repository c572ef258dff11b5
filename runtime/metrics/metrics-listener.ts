/**
 * The metrics listener: its own HTTP server on the plan's `metrics.host:port`, answering
 * `GET|HEAD /metrics` with the Prometheus text format and 404 for anything else. It is never one of
 * the registry's listeners (no auth, no v2 API, no route table).
 *
 * A reload that changes (or adds, or removes) the address follows the registry listeners' rule
 * (server/listeners.ts): the new socket is opened before the swap, so a port that cannot be bound
 * fails the reload while everything keeps serving, and the old socket closes after it. When the
 * new address needs the old one's port (only the host changed), it is rebound after the swap: the
 * endpoint is briefly refused, and a failure then is logged.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { MetricsPlan } from '../../compiler/plan.ts';
import type { RegistryMetrics } from './registry-metrics.ts';

/** What {@link MetricsListener.prepare} did, to finish after the swap or undo on a failed reload. */
export interface MetricsListenerChange {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const UNCHANGED: MetricsListenerChange = { commit: async () => {}, abort: async () => {} };

function bindingOf(plan: MetricsPlan | undefined): string | undefined {
  return plan === undefined ? undefined : `${plan.host}:${plan.port}`;
}

export class MetricsListener {
  readonly #metrics: RegistryMetrics;
  readonly #log: FastifyBaseLogger;
  #server: Server | undefined;
  #plan: MetricsPlan | undefined;

  constructor(metrics: RegistryMetrics, log: FastifyBaseLogger) {
    this.#metrics = metrics;
    this.#log = log;
  }

  /** `http://host:port` of the bound socket, or undefined when metrics are off. */
  get url(): string | undefined {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address || this.#plan === undefined) return undefined;
    const host = this.#plan.host.includes(':') ? `[${this.#plan.host}]` : this.#plan.host;
    return `http://${host}:${address.port}`;
  }

  /**
   * Opens the socket `next` asks for when it differs from the bound one; nothing changes for
   * clients until `commit()`. Throws (nothing changed) when the new address cannot be bound.
   */
  async prepare(next: MetricsPlan | undefined): Promise<MetricsListenerChange> {
    if (bindingOf(next) === bindingOf(this.#plan)) return UNCHANGED;
    const previous = this.#server;
    const adopt = async (server: Server | undefined) => {
      this.#server = server;
      this.#plan = next;
      if (previous !== undefined && previous !== server) await close(previous);
      if (server !== undefined) this.#log.info({ url: `${this.url}/metrics` }, 'metrics listening');
    };
    if (next === undefined) return { commit: () => adopt(undefined), abort: async () => {} };
    let opened: Server;
    try {
      opened = await this.#open(next);
    } catch (error) {
      const samePort = this.#plan !== undefined && this.#plan.port === next.port;
      if (!samePort || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw new Error(`metrics listener ${next.host}:${next.port} cannot be bound: ${(error as Error).message}`, {
          cause: error,
        });
      }
      // Only the host changed and the old socket holds the port: rebind after the swap.
      return {
        commit: async () => {
          if (previous !== undefined) await close(previous);
          this.#server = undefined;
          try {
            await adopt(await this.#open(next));
          } catch (rebind) {
            this.#plan = next;
            this.#log.error({ err: rebind, host: next.host, port: next.port }, 'metrics listener could not be rebound');
          }
        },
        abort: async () => {},
      };
    }
    return { commit: () => adopt(opened), abort: () => close(opened) };
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#plan = undefined;
    if (server !== undefined) await close(server);
  }

  async #open(plan: MetricsPlan): Promise<Server> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain; charset=utf-8' });
        response.end(path === '/metrics' ? 'only GET and HEAD\n' : 'not found: metrics are at /metrics\n');
        return;
      }
      this.#metrics.render().then(
        ({ contentType, body }) => {
          response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          this.#log.error({ err: error }, 'metrics could not be rendered');
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          response.end('metrics could not be rendered\n');
        },
      );
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: plan.host, port: plan.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
