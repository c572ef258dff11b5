/**
 * A bounded request loop run by `wrk` (Debian's HTTP load generator) in its own process, so the
 * load client never competes with the benchmark script's event loop and the req/s measured is
 * the server's, not the client's. Method and headers go in a generated Lua script (wrk's `-H`
 * cannot set the method); a short warm-up run precedes the measured one; both are bounded by
 * time. wrk's own percentiles (`--latency`) give p50 and p99.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readCpuSeconds } from './cpu.ts';
import type { LoadOptions, LoadResult } from './load.ts';

const run = promisify(execFile);

export interface WrkOptions extends LoadOptions {
  /** wrk threads (default 1: the machine has two cores, one is the server's). */
  threads?: number;
  /** Warm-up duration in seconds, not measured (default 1). */
  warmupSeconds?: number;
  /** A server process whose CPU time over the measured run (not the warm-up) is reported. */
  cpuOf?: number;
  /**
   * Pause of each connection between an answer and its next request (wrk's `delay()`), which
   * paces the load instead of saturating the server; latencies exclude the pause. Default none.
   */
  delayMs?: number;
}

/** Converts wrk's `1.23ms` / `850.00us` / `1.02s` to milliseconds. */
function parseWrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  const unit = match[2];
  return unit === 'us' ? value / 1000 : unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000;
}

/** Reads requests, errors, req/s and p50/p99 from wrk's `--latency` report. */
export function parseWrkReport(report: string, seconds: number): LoadResult {
  const requests = Number(/(\d+) requests in/.exec(report)?.[1] ?? Number.NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(report)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(report)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const socketErrors = socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0;
  const percentile = (p: number) => parseWrkDuration(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(report)?.[1] ?? '');
  return {
    requests: requests - non2xx,
    errors: non2xx + socketErrors,
    seconds,
    rps: (rps * (requests - non2xx)) / Math.max(1, requests),
    p50Ms: percentile(50),
    p99Ms: percentile(99),
  };
}

/** The Lua script wrk runs: the method, the headers and, when pacing, the pause. */
export function luaScript(method: string, headers: Record<string, string>, delayMs?: number): string {
  const lines = [`wrk.method = ${JSON.stringify(method)}`];
  for (const [name, value] of Object.entries(headers)) {
    lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  }
  if (delayMs !== undefined && delayMs > 0) lines.push(`function delay() return ${Math.round(delayMs)} end`);
  return `${lines.join('\n')}\n`;
}

/** Runs wrk (warm-up, then the measured run); throws when wrk is missing, fails, or sees no 2xx answer. */
export async function runWrk(options: WrkOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-wrk-'));
  try {
    const script = join(dir, 'request.lua');
    await writeFile(script, luaScript(options.method, options.headers, options.delayMs));
    const args = (seconds: number) => [
      '-t',
      String(options.threads ?? 1),
      '-c',
      String(options.connections),
      '-d',
      `${seconds}s`,
      '--timeout',
      '5s',
      '--latency',
      '-s',
      script,
      `${options.origin}${options.path}`,
    ];
    const warmup = options.warmupSeconds ?? 1;
    if (warmup > 0) await run('wrk', args(warmup), { timeout: (warmup + 30) * 1000 });
    const cpuBefore = options.cpuOf === undefined ? null : await readCpuSeconds(options.cpuOf);
    const { stdout } = await run('wrk', args(options.seconds), { timeout: (options.seconds + 30) * 1000 });
    const cpuAfter = options.cpuOf === undefined ? null : await readCpuSeconds(options.cpuOf);
    const result = parseWrkReport(stdout, options.seconds);
    // As ab.ts: a run without one expected answer is a broken setup, not a rate of 0.
    if (!(result.requests > 0)) throw new Error(`wrk: no successful ${options.method} ${options.path}\n${stdout}`);
    if (cpuBefore === null || cpuAfter === null) return result;
    return { ...result, serverCpuSeconds: cpuAfter - cpuBefore };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
