/**
 * A command run to its end under GNU time (`/usr/bin/time -v`, Debian package `time`): its wall
 * time, its peak resident memory (the kernel's high-water mark of the process, and of any child it
 * waited for: the larger one, never a sum) and CPU time. Used where the process measured is the
 * whole job (a garbage-collection pass run as `regctl gc` or `docker-registry garbage-collect`).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../test/helpers/process.ts';

/** What GNU time reports, in the units used in the tables. */
export interface TimeReport {
  readonly peakRssMiB: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly exitStatus: number;
}

/** Reads GNU time's `-v` report; throws when a figure is missing (not GNU time's output). */
export function parseTimeReport(text: string): TimeReport {
  const field = (label: string) => {
    const line = text.split('\n').find((l) => l.trim().startsWith(`${label}:`));
    const value = Number(line?.slice(line.lastIndexOf(':') + 1).trim());
    if (line === undefined || !Number.isFinite(value)) throw new Error(`GNU time report has no "${label}"`);
    return value;
  };
  return {
    peakRssMiB: field('Maximum resident set size (kbytes)') / 1024,
    userSeconds: field('User time (seconds)'),
    systemSeconds: field('System time (seconds)'),
    exitStatus: field('Exit status'),
  };
}

export interface TimedResult extends TimeReport {
  /** From spawn to exit, measured here (ms). */
  readonly wallMs: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command args` under `/usr/bin/time -v -o FILE` with `env`, bounded by `timeoutMs`
 * (SIGKILL then). Throws when it exits non-zero, with the tail of its stderr.
 */
export async function timedRun(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<TimedResult> {
  const time = requireBinary('/usr/bin/time', 'time');
  const dir = await mkdtemp(join(tmpdir(), 'regctl-time-'));
  const reportFile = join(dir, 'time.txt');
  try {
    const started = performance.now();
    const child = spawn(time, ['-v', '-o', reportFile, command, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    }).finally(() => clearTimeout(timer));
    const wallMs = performance.now() - started;
    const stdout = Buffer.concat(out).toString('utf8');
    const stderr = Buffer.concat(err).toString('utf8');
    if (code !== 0) {
      throw new Error(`${command} ${args.join(' ')} exited ${code ?? 'on a signal'}:\n${stderr.slice(-3000)}`);
    }
    return { ...parseTimeReport(await readFile(reportFile, 'utf8')), wallMs, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
