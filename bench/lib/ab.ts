/**
 * A bounded HEAD (or GET) request loop run by ApacheBench (`ab`, Debian's apache2-utils) in its own
 * process. wrk 4.1 cannot measure HEAD (it waits for a body after a HEAD answer that carries
 * Content-Length, and counts 0 requests), and a Node client on these two cores saturates before a
 * fast server does, which caps both registries alike. `ab -k -i` sends keep-alive HEAD requests
 * and parses the answers as bodiless; one C process drives 8 connections at ~50 000 req/s against
 * a bare Node server here, far above what either registry answers.
 *
 * Figures come from ab's own report: completed requests, non-2xx answers, failed requests (length
 * mismatches, broken connections) and, from its `-e` CSV (one line per percentile, in ms with
 * three decimals), p50 and p99. ab stops at `-t` seconds or `-n` requests, whichever comes first;
 * `-n` is sized so the clock decides and ab's per-request table stays a few MiB.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LoadOptions, LoadResult } from './load.ts';

const run = promisify(execFile);

/** More requests per second than ab is ever asked for here; bounds `-n` (and ab's memory). */
const MAX_RATE = 60_000;

export interface AbOptions extends LoadOptions {
  /** Requests sent before the measured run, not counted (default 400). */
  warmupRequests?: number;
}

/** The pieces of ab's text report and percentile CSV a {@link LoadResult} needs. */
export function parseAbReport(report: string, csv: string): LoadResult {
  const number = (pattern: RegExp) => Number(pattern.exec(report)?.[1] ?? Number.NaN);
  const complete = number(/^Complete requests:\s+(\d+)/m);
  const failed = number(/^Failed requests:\s+(\d+)/m);
  const non2xx = /^Non-2xx responses:\s+(\d+)/m.test(report) ? number(/^Non-2xx responses:\s+(\d+)/m) : 0;
  const seconds = number(/^Time taken for tests:\s+([\d.]+) seconds/m);
  const percentiles = new Map<number, number>();
  for (const line of csv.split('\n').slice(1)) {
    const [p, ms] = line.split(',');
    if (p !== undefined && ms !== undefined && p !== '') percentiles.set(Number(p), Number(ms));
  }
  const keepAlive = number(/^Keep-Alive requests:\s+(\d+)/m);
  const ok = complete - non2xx - failed;
  if (!(keepAlive >= complete)) {
    // ab opened a new connection after every answer that did not say keep-alive: not comparable.
    // A report without the line (NaN) is refused too: nothing says the connections were reused.
    throw new Error(
      `ab: only ${Number.isNaN(keepAlive) ? 'an unknown number' : keepAlive} of ${complete} requests were kept alive\n${report}`,
    );
  }
  return {
    requests: ok,
    errors: non2xx + failed,
    seconds,
    rps: ok / seconds,
    p50Ms: percentiles.get(50) ?? Number.NaN,
    p99Ms: percentiles.get(99) ?? Number.NaN,
  };
}

/** Runs ab (warm-up, then the measured run); throws when ab is missing, fails, or sees no answer. */
export async function runAb(options: AbOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-ab-'));
  try {
    const csv = join(dir, 'percentiles.csv');
    const headerArgs = Object.entries(options.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
    const args = (extra: string[]) => [
      '-k',
      ...(options.method === 'HEAD' ? ['-i'] : []),
      '-q',
      '-s',
      '5',
      '-c',
      String(options.connections),
      ...headerArgs,
      ...extra,
      `${options.origin}${options.path}`,
    ];
    const warmup = Math.max(options.connections, options.warmupRequests ?? 400);
    await run('ab', args(['-n', String(warmup)]), { timeout: 60_000 });
    // -t before -n: ab's -t resets the request count, a later -n sets it again.
    const limit = Math.ceil(options.seconds * MAX_RATE);
    const { stdout } = await run('ab', args(['-t', String(options.seconds), '-n', String(limit), '-e', csv]), {
      timeout: (options.seconds + 60) * 1000,
      maxBuffer: 1024 * 1024,
    });
    const result = parseAbReport(stdout, await readFile(csv, 'utf8'));
    if (!(result.requests > 0)) throw new Error(`ab: no successful ${options.method} ${options.path}\n${stdout}`);
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
