/**
 * What a request-rate loop reports, whichever client ran it (wrk for GET, ab for HEAD: see
 * wrk.ts and ab.ts). Both clients run in their own process, so the benchmark script never
 * competes with the load it measures.
 */

/** What both clients are asked: one request, repeated on keep-alive connections for a while. */
export interface LoadOptions {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
  connections: number;
  /** Measured duration in seconds. */
  seconds: number;
}

export interface LoadResult {
  /** Requests answered with the expected (2xx) status. */
  readonly requests: number;
  /** Non-2xx answers plus socket errors / failed requests. */
  readonly errors: number;
  readonly seconds: number;
  /** Successful requests per second. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU seconds the server used over the measured run, when the client was asked (wrk `cpuOf`). */
  readonly serverCpuSeconds?: number;
}
