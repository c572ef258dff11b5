/**
 * What one listener allows a connection, and the Node HTTP server options that enforce it. The
 * values are constants, documented in docs/operations.md "Limits"; tests pass smaller ones.
 *
 * There is deliberately no limit on how long a whole request may take: a multi-GiB blob pushed or
 * pulled over a slow link takes minutes and must not be cut while bytes keep moving. Slow clients
 * are bounded instead by a deadline on the request head (slowloris) and by silence: a connection
 * that owes the server bytes — the rest of a body, or reading the response — and sends or reads
 * nothing for {@link ConnectionLimits.idleTimeoutMs} is closed (see connection-guard.ts).
 */
import type { ServerOptions } from 'node:http';

/** The per-listener limits on connections (every value in milliseconds or counts). */
export interface ConnectionLimits {
  /**
   * Deadline for a whole request head (request line and headers), counted from its first byte —
   * or from the accept, for a connection's first request. Past it the client gets
   * `408 REQUEST_TIMEOUT` and the connection is closed, however steadily the bytes trickle in.
   */
  readonly headersTimeoutMs: number;
  /**
   * Longest silence on a connection in the middle of a request while the client owes bytes: a
   * body not finished, or a response it does not read. Silence while the server is the one
   * working (waiting for an upstream or a store, or not reading a body yet) does not count.
   */
  readonly idleTimeoutMs: number;
  /** How long an idle keep-alive connection waits for its next request. */
  readonly keepAliveTimeoutMs: number;
  /** Concurrent connections per listener; connections over it are closed as they are accepted. */
  readonly maxConnections: number;
  /** Largest request head (request line and headers); larger is `431`. */
  readonly maxHeaderBytes: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  // Longer than the 60 s idle timeout of common load balancers, so the balancer closes an idle
  // connection first and never sends a request onto one this side is closing.
  keepAliveTimeoutMs: 72_000,
  // Well under the file-descriptor limit Node raises itself to, so a flood of connections is
  // refused at accept instead of leaving the blob store without descriptors to open files with.
  maxConnections: 4096,
  maxHeaderBytes: 16 * 1024,
};

/**
 * How long a connection refused outside fastify (a malformed request, a header timeout, CONNECT)
 * stays open after its answer, so the client reads the answer instead of a reset caused by the
 * bytes it is still sending; then it is destroyed.
 */
export const REFUSED_LINGER_MS = 1000;

/**
 * The Node `http.Server` options for `limits`. `requestTimeout` is 0 (none: see above) and the
 * header deadline is checked at least every second. `requireHostHeader` is off because Node's own
 * answer to a missing Host has no body: the app refuses it instead, with the OCI error body.
 */
export function resolveServerOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4))),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    requireHostHeader: false,
  };
}
