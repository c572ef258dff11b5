/**
 * A bounded request loop: `connections` workers on one keep-alive pool send the same small
 * request until `maxRequests` are done or `maxSeconds` pass, whichever comes first. Latency is
 * measured per request (send → body fully read); a short warm-up is excluded.
 */
import type { Dispatcher, Pool } from 'undici';

export interface LoadOptions {
  pool: Pool;
  connections: number;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
  expectStatus: number;
  maxRequests: number;
  maxSeconds: number;
  /** Requests sent (and not measured) before the run (default 200). */
  warmup?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function once(options: LoadOptions): Promise<number | null> {
  const started = process.hrtime.bigint();
  const res = await options.pool.request({
    method: options.method,
    path: options.path,
    headers: options.headers,
  } as Dispatcher.RequestOptions);
  await res.body.dump();
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  return res.statusCode === options.expectStatus ? elapsed : null;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const warmup = options.warmup ?? 200;
  for (let i = 0; i < warmup; i += options.connections) {
    const statuses = await Promise.all(Array.from({ length: options.connections }, () => once(options)));
    if (statuses.some((s) => s === null)) {
      throw new Error(
        `${options.method} ${options.path}: unexpected status during warm-up (expected ${options.expectStatus})`,
      );
    }
  }
  const latencies = new Float64Array(options.maxRequests);
  let sent = 0;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  const worker = async () => {
    while (sent < options.maxRequests && performance.now() < deadline) {
      sent++;
      const latency = await once(options).catch(() => null);
      if (latency === null) errors++;
      else latencies[done++] = latency;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, done).sort();
  return {
    requests: done,
    errors,
    seconds,
    rps: done / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}
