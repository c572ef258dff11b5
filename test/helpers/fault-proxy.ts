/**
 * A fault-injecting reverse proxy on 127.0.0.1 in front of a real registry (distribution), for the
 * mirror and rate-limit tests: it forwards every request as is, and on demand
 * - answers every request `429` with a `Retry-After` ({@link FaultProxy.rateLimit}),
 * - holds each request `delayMs` before forwarding it (so concurrency becomes visible),
 * - stops listening, resetting open connections ({@link FaultProxy.down}: connection refused),
 *   and listens again on the same port ({@link FaultProxy.up}).
 * It records every request it received with its time, and how many were in flight at once.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  /** `Date.now()` when it arrived. */
  readonly at: number;
  /** The status it was answered with by a fault, or undefined when forwarded. */
  readonly fault?: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  /** Every request received, in arrival order. */
  readonly requests: readonly FaultRequest[];
  /** Requests whose `METHOD path` matches `pattern`. */
  count(pattern: RegExp): number;
  /** Forwarded requests not finished yet, and the most at once since the last {@link resetPeak}. */
  readonly active: number;
  readonly peak: number;
  resetPeak(): void;
  /** Milliseconds each forwarded request waits before it is sent on (default 0). */
  delayMs: number;
  /** Answers every request 429 with this `Retry-After` (undefined: none) until {@link clear}. */
  rateLimit(retryAfter: string | undefined): void;
  /** Back to forwarding everything. */
  clear(): void;
  /** Stops listening and resets every open connection: clients get connection refused. */
  down(): Promise<void>;
  /** Listens on the same port again. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the proxy in front of `target` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: FaultRequest[] = [];
  const sockets = new Set<Socket>();
  let rateLimited: { retryAfter: string | undefined } | undefined;
  let active = 0;
  let peak = 0;

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    active++;
    peak = Math.max(peak, active);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      active--;
    };
    outgoing.on('close', finish);
    const send = () => {
      const onward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...incoming.headers, host: upstream.host },
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      onward.on('error', () => outgoing.destroy());
      incoming.pipe(onward);
    };
    if (proxy.delayMs > 0) setTimeout(send, proxy.delayMs);
    else send();
  };

  const server: Server = createServer((incoming, outgoing) => {
    const entry = { method: incoming.method ?? '', path: incoming.url ?? '', at: Date.now() };
    if (rateLimited !== undefined) {
      requests.push({ ...entry, fault: 429 });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (rateLimited.retryAfter !== undefined) headers['retry-after'] = rateLimited.retryAfter;
      incoming.resume();
      outgoing
        .writeHead(429, headers)
        .end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
      return;
    }
    requests.push(entry);
    forward(incoming, outgoing);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    count: (pattern) => requests.filter((r) => pattern.test(`${r.method} ${r.path}`)).length,
    get active() {
      return active;
    },
    get peak() {
      return peak;
    },
    resetPeak() {
      peak = active;
    },
    delayMs: 0,
    rateLimit(retryAfter) {
      rateLimited = { retryAfter };
    },
    clear() {
      rateLimited = undefined;
    },
    down: close,
    up: () => listen(port),
    stop: async () => {
      if (server.listening) await close();
    },
  };
  return proxy;
}
