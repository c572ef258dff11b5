/**
 * Everything a listener does about connections rather than requests, on the Node server under the
 * fastify app: the connection cap, the idle-timeout policy, and the answers given outside fastify
 * (parser errors, the header deadline, `CONNECT`, an unknown `Expect`), each in the OCI error shape.
 *
 * The idle policy. The server's socket timeout (`idleTimeoutMs`; `keepAliveTimeoutMs` between
 * requests, as Node sets it) fires after that long without a byte either way. A connection is then
 * closed when the *client* is the one who owes something: no request in flight (idle, or a request
 * head that never came), a body it stopped sending, or a response it stopped reading (bytes wait
 * in the socket's buffer). When the server owes — it left received body bytes unread (its store
 * is slow), or it is still preparing the response (an upstream or a store is slow, and their own
 * timeouts bound that) — the timer is armed again instead. So a transfer that keeps moving is
 * never cut, whatever its length, and a stalled client is dropped after `idleTimeoutMs`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { RegistryError } from '../oci/errors.ts';
import type { ConnectionLimits } from './limits.ts';
import { REFUSED_LINGER_MS } from './limits.ts';
import {
  type ClientError,
  classifyClientError,
  connectRefused,
  formatErrorHeaders,
  formatRawResponse,
} from './raw-errors.ts';

/** The server's socket as its `timeout` event hands it over. */
type TimedSocket = Duplex & { setTimeout(ms: number): void; writableLength: number; bytesRead: number };

interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
}

/** How often at most the connection cap's refusals are logged (with their count). */
const DROP_LOG_INTERVAL_MS = 10_000;

function ignore(): void {}

/** One listener's connection policy; {@link ConnectionGuard.attach} it to the app's server. */
export class ConnectionGuard {
  readonly #limits: ConnectionLimits;
  readonly #log: FastifyBaseLogger;
  /** The request in flight on each connection (the latest one, if a client pipelines). */
  readonly #exchanges = new WeakMap<Duplex, Exchange>();
  /** Connections answered here and closing: a parser error repeats while such a client still sends. */
  readonly #refused = new WeakSet<Duplex>();
  #dropped = 0;
  #dropLoggedAt = 0;

  constructor(limits: ConnectionLimits, log: FastifyBaseLogger) {
    this.#limits = limits;
    this.#log = log;
  }

  /** fastify's `clientErrorHandler`: Node's `clientError`, raised before fastify sees a request. */
  readonly onClientError = (error: ClientError, socket: Duplex): void => {
    if (this.#refused.has(socket) || socket.destroyed) return;
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    // Mid-response there is no clean answer left: the honest signal is the cut connection.
    if (!socket.writable || this.#exchanges.get(socket)?.response.headersSent === true) {
      socket.destroy();
      return;
    }
    const refusal = classifyClientError(error, this.#limits);
    this.#log.debug({ code: error.code, status: refusal.status }, 'client error: connection refused');
    this.#refuse(socket, refusal);
  };

  /** Applies the cap and the policies to `server` (the app's `http.Server` or `https.Server`). */
  attach(server: Server): void {
    server.maxConnections = this.#limits.maxConnections;
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const exchange = { request, response };
      this.#exchanges.set(request.socket, exchange);
      response.once('close', () => {
        if (this.#exchanges.get(request.socket) === exchange) this.#exchanges.delete(request.socket);
      });
    });
    server.on('timeout', (socket: TimedSocket) => {
      // After the event loop was held up (a long GC, a starved CPU), the timers run before the
      // loop reads the sockets: bytes the client sent in time may still wait in the kernel. The
      // verdict comes after one pass of the poll phase, which reads them (setImmediate runs after it).
      const seen = { read: socket.bytesRead, unsent: socket.writableLength };
      setImmediate(() => this.#onSilence(socket, seen));
    });
    server.on('connect', (_request: IncomingMessage, socket: Duplex) => this.#refuse(socket, connectRefused()));
    server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
      const refusal = new RegistryError('UNSUPPORTED', {
        status: 417,
        message: 'only "Expect: 100-continue" is supported',
        detail: { expect: String(request.headers.expect).slice(0, 200) },
      });
      const body = JSON.stringify(refusal.toJSON());
      response.writeHead(refusal.status, formatErrorHeaders(refusal, body));
      response.end(body);
    });
    server.on('drop', () => {
      this.#dropped++;
      const now = Date.now();
      if (now - this.#dropLoggedAt < DROP_LOG_INTERVAL_MS) return;
      this.#log.warn(
        { dropped: this.#dropped, maxConnections: this.#limits.maxConnections },
        'connection limit reached: new connections are refused',
      );
      this.#dropLoggedAt = now;
      this.#dropped = 0;
    });
  }

  /** Closes `socket` after a silence the client owes (see the idle policy above); re-arms otherwise. */
  #onSilence(socket: TimedSocket, seen: { read: number; unsent: number }): void {
    if (socket.destroyed) return;
    const exchange = this.#exchanges.get(socket);
    const moved = socket.bytesRead !== seen.read || socket.writableLength < seen.unsent;
    if (moved || (exchange && serverOwes(exchange, socket.writableLength))) {
      socket.setTimeout(this.#limits.idleTimeoutMs);
      return;
    }
    this.#log.debug({ inFlight: exchange !== undefined }, 'idle connection closed');
    socket.destroy();
  }

  /** Writes `error` as the whole answer, half-closes, and destroys the socket after a short linger. */
  #refuse(socket: Duplex, error: RegistryError): void {
    this.#refused.add(socket);
    // After CONNECT, Node has taken its own listeners off the socket: a reset must not go unhandled.
    socket.on('error', ignore);
    if (socket.writable) socket.end(formatRawResponse(error));
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}

/**
 * True when the server, not the client, is why the connection was silent: it left body bytes
 * unread (it stops reading when its store is slower than the client), or it is still producing a
 * response with nothing waiting in the socket for the client to read.
 */
function serverOwes(exchange: Exchange, unsentBytes: number): boolean {
  if (!exchange.request.complete) return exchange.request.readableLength > 0;
  return !exchange.response.writableFinished && unsentBytes === 0;
}
