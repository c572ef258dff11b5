/**
 * Blob pulls driven by one `curl` process (Debian's `curl`), so that a pull throughput measures the
 * server and not the client. The benchmark's in-process undici client reads every byte on the
 * benchmark script's event loop, on the same two cores as the servers it measures; curl discards
 * the bytes in C at a fraction of that CPU per GiB (docs/benchmarks.md has the figures), and runs
 * its transfers in its own process.
 *
 * One child process does all the transfers of a call: the URLs (and any headers, so credentials
 * never show on a command line) go in a curl config read from stdin (`-K -`), bodies go to
 * `/dev/null`, `-Z --parallel-max C` runs C at once over keep-alive connections (none of it when
 * C is 1: plain sequential transfers on one connection). Nothing is trusted blindly: curl writes
 * one `--write-out` line per finished transfer (its exit code, HTTP status, bytes received, time
 * and URL), and every transfer must have answered 200 with exactly the expected number of bytes,
 * or the call throws a {@link CurlPullError} naming each failure. The child's CPU time comes
 * from a `bash` wrapper's `times` builtin (user and system time of the waited-for curl).
 */
import { spawn } from 'node:child_process';

/** One blob to fetch and the exact byte count it must deliver. */
export interface CurlTransfer {
  readonly url: string;
  readonly size: number;
}

/** What curl reported for one finished transfer (one `--write-out` line). */
export interface CurlTransferResult {
  readonly url: string;
  /** curl's exit code for this transfer (0 = success; 18 = body shorter than announced, …). */
  readonly exitCode: number;
  /** HTTP status (0 when no answer came). */
  readonly status: number;
  /** Body bytes received. */
  readonly bytes: number;
  /** Seconds from the transfer's start to its last byte, by curl's own clock. */
  readonly seconds: number;
}

export interface CurlPullOptions {
  readonly transfers: readonly CurlTransfer[];
  /** Transfers in flight at once (1 = one after the other). */
  readonly parallel: number;
  /** Headers sent with every request (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Bound in ms on each transfer (curl's `--max-time`) and on the whole call (default 10 min). */
  readonly timeoutMs?: number;
}

export interface CurlPullResult {
  /** From spawning curl to its exit, in ms (includes curl's start-up, a few ms). */
  readonly wallMs: number;
  /** Body bytes received, all transfers together. */
  readonly bytes: number;
  /** User + system CPU seconds of the curl process, or null when they could not be read. */
  readonly cpuSeconds: number | null;
  readonly transfers: readonly CurlTransferResult[];
}

/** Thrown when curl failed or any transfer was not a complete 200; `problems` lists each one. */
export class CurlPullError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], stderr = '') {
    const shown = problems.slice(0, 8).join('; ') + (problems.length > 8 ? `; … ${problems.length - 8} more` : '');
    super(`curl pull failed: ${shown}${stderr.trim() ? `\n--- curl stderr\n${stderr.trim().slice(-2000)}` : ''}`);
    this.name = 'CurlPullError';
    this.problems = problems;
  }
}

/** The `--write-out` format: one line per transfer, the URL last (it is the only free-form field). */
export const WRITE_OUT = '%{exitcode} %{http_code} %{size_download} %{time_total} %{url_effective}\\n';

/** A curl config string: double-quoted, with the escapes curl's config parser understands. */
function quote(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error(`curl config: a value may not contain a line break: ${value}`);
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The curl config of a pull: the headers once (they apply to every URL of the operation), then a
 * `url` / `output = "/dev/null"` pair per transfer, in order.
 */
export function formatCurlConfig(
  transfers: readonly CurlTransfer[],
  headers: Readonly<Record<string, string>> = {},
): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`curl config: not a header name: ${name}`);
    lines.push(`header = ${quote(`${name}: ${value}`)}`);
  }
  for (const { url } of transfers) lines.push(`url = ${quote(url)}`, 'output = "/dev/null"');
  return `${lines.join('\n')}\n`;
}

/** Parses curl's output of {@link WRITE_OUT}; a line that does not fit throws. */
export function parseWriteOut(text: string): CurlTransferResult[] {
  const results: CurlTransferResult[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const match = /^(\d+) (\d{3}) (\d+) ([\d.]+) (\S+)$/.exec(line);
    if (!match) throw new Error(`curl write-out: unexpected line ${JSON.stringify(line)}`);
    results.push({
      exitCode: Number(match[1]),
      status: Number(match[2]),
      bytes: Number(match[3]),
      seconds: Number(match[4]),
      url: match[5]!,
    });
  }
  return results;
}

/**
 * Every problem with a pull: curl's own exit status, a transfer missing from the report, one that
 * failed, answered other than 200, or delivered a byte count other than expected, and any report
 * of a URL that was not asked for. Empty when the pull is complete. A URL may be asked for several
 * times; each report is matched against one outstanding request for it.
 */
export function checkTransfers(
  expected: readonly CurlTransfer[],
  results: readonly CurlTransferResult[],
  exitCode: number | null,
): string[] {
  const problems: string[] = [];
  if (exitCode !== 0) problems.push(`curl exited with ${exitCode ?? 'a signal'}`);
  const outstanding = new Map<string, number[]>();
  for (const { url, size } of expected) {
    const sizes = outstanding.get(url);
    if (sizes) sizes.push(size);
    else outstanding.set(url, [size]);
  }
  for (const result of results) {
    const size = outstanding.get(result.url)?.shift();
    if (size === undefined) {
      problems.push(`${result.url}: reported but not requested (or reported too often)`);
      continue;
    }
    if (result.exitCode !== 0) problems.push(`${result.url}: curl error ${result.exitCode}`);
    if (result.status !== 200) problems.push(`${result.url}: HTTP ${result.status}`);
    if (result.bytes !== size) problems.push(`${result.url}: ${result.bytes} bytes received, ${size} expected`);
  }
  const missing = [...outstanding].flatMap(([url, sizes]) => sizes.map(() => url));
  if (missing.length) problems.push(`${missing.length} transfer(s) never reported: ${missing[0]}`);
  return problems;
}

/** The children's user + system seconds from bash's `times` output (its second line), or null. */
export function parseTimes(text: string): number | null {
  const line = text.trim().split('\n')[1];
  const match = line && /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (!match) return null;
  return Number(match[1]) * 60 + Number(match[2]) + Number(match[3]) * 60 + Number(match[4]);
}

/** The curl arguments of a pull (the URLs and headers come in on stdin). */
export function curlArgs(parallel: number, timeoutMs: number): string[] {
  if (!Number.isInteger(parallel) || parallel < 1) throw new Error(`curl: parallel must be ≥ 1, got ${parallel}`);
  const args = [
    '-sS',
    '--no-progress-meter',
    '--max-time',
    String(Math.ceil(timeoutMs / 1000)),
    '-w',
    WRITE_OUT,
    '-K',
    '-',
  ];
  // curl caps --parallel-max at 300; more than the transfer count is harmless.
  if (parallel > 1) args.push('-Z', '--parallel-immediate', '--parallel-max', String(Math.min(parallel, 300)));
  return args;
}

/**
 * Pulls every transfer with one curl process, `parallel` at a time, and checks each one (see the
 * module comment). Throws a {@link CurlPullError} on any incomplete transfer, or when curl is not
 * installed (Debian package `curl`).
 */
export async function curlPull(options: CurlPullOptions): Promise<CurlPullResult> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const args = curlArgs(options.parallel, timeoutMs);
  const config = formatCurlConfig(options.transfers, options.headers);
  const started = performance.now();
  // `times` after curl: the shell's children (curl alone) used this much CPU. fd 3 carries it.
  const child = spawn('bash', ['-c', 'curl "$@"; rc=$?; times >&3; exit $rc', 'bash', ...args], {
    // Same process group: a Ctrl-C of the benchmark reaches curl too.
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '', times: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    text.stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    text.stderr += chunk;
  });
  const fd3 = child.stdio[3] as NodeJS.ReadableStream;
  fd3.setEncoding('utf8').on('data', (chunk: string) => {
    text.times += chunk;
  });
  child.stdin.on('error', () => undefined); // curl gone early: its exit status says why
  child.stdin.end(config);
  // curl's own --max-time bounds the transfers; this only catches a curl that ignores it.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => clearTimeout(timer));
  const wallMs = performance.now() - started;
  if (exitCode === 127) throw new CurlPullError(['curl is not installed (Debian package curl)'], text.stderr);
  let results: CurlTransferResult[];
  try {
    results = parseWriteOut(text.stdout);
  } catch (error) {
    throw new CurlPullError([error instanceof Error ? error.message : String(error)], text.stderr);
  }
  const problems = checkTransfers(options.transfers, results, exitCode);
  if (problems.length) throw new CurlPullError(problems, text.stderr);
  return {
    wallMs,
    bytes: results.reduce((sum, r) => sum + r.bytes, 0),
    cpuSeconds: parseTimes(text.times),
    transfers: results,
  };
}

/**
 * `count` transfers of the blobs of repository `name` at `origin` (cycling through `blobs` when
 * `count` is larger), each expecting the blob's size.
 */
export function blobTransfers(
  origin: string,
  name: string,
  blobs: readonly { readonly digest: string; readonly size: number }[],
  count = blobs.length,
): CurlTransfer[] {
  if (blobs.length === 0) throw new Error('curl: no blobs to pull');
  return Array.from({ length: count }, (_, i) => {
    const blob = blobs[i % blobs.length]!;
    return { url: `${origin}/v2/${name}/blobs/${blob.digest}`, size: blob.size };
  });
}

/** MiB/s of a pull over its wall time. */
export function mibPerSecond(result: CurlPullResult): number {
  return result.bytes / (1024 * 1024) / (result.wallMs / 1000);
}

/** The client's CPU ms per GiB received, or null when curl's CPU time was not read. */
export function cpuMsPerGiB(result: CurlPullResult): number | null {
  return result.cpuSeconds === null || result.bytes === 0
    ? null
    : (result.cpuSeconds * 1000) / (result.bytes / 1024 ** 3);
}
