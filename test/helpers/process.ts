/**
 * Small process utilities shared by the helpers that start daemons (distribution, regctl,
 * containerd, dockerd): run a command to completion, find a binary, start a daemon with its output
 * in a log file, wait until it is ready (a URL, or any check), stop a child.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';

/** The output of a finished command. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds before the command is killed (default 120 s). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing (default false). */
  allowFailure?: boolean;
  input?: string;
}

/** Thrown when a binary a test needs is not installed: says how to get it. */
export class MissingBinaryError extends Error {
  constructor(binary: string, pkg: string) {
    super(`${binary} is not installed: run \`bash scripts/install-deps.sh\` as root (Debian package ${pkg})`);
    this.name = 'MissingBinaryError';
  }
}

/** The absolute path of `binary` on PATH (or the absolute path given), or throws MissingBinaryError. */
export function requireBinary(binary: string, pkg: string): string {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', binary], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) throw new MissingBinaryError(binary, pkg);
  return path;
}

/** Runs a command to completion, stdin closed (or fed `input`); throws on a non-zero exit unless allowed. */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const { timeoutMs = 120_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code === 0 || options.allowFailure) resolve(result);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} exited with ${code ?? signal}\n--- stdout\n${stdout.slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`,
          ),
        );
    });
  });
}

/** Status code of a GET (0 when the connection fails). */
async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

/** Starts a daemon with stdin closed and stdout and stderr appended to `logFile`. */
export function spawnLogged(
  command: string,
  args: readonly string[],
  logFile: string,
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(command, args, { stdio: ['ignore', fd, fd], env: options.env ?? process.env, cwd: options.cwd });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

/** A log file's text so far ('' while it does not exist). */
export function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface WaitOptions {
  /** Milliseconds before giving up (default 30 s). */
  timeoutMs?: number;
  /** Milliseconds between checks (default 100). */
  intervalMs?: number;
  /** Fail at once when this child exits before the check passes. */
  child?: ChildProcess;
  /** Context (a log tail) appended to the error. */
  describe?: () => string;
}

/**
 * Polls `check` until it passes, the child exits, or `timeoutMs` passes; `what` names what is
 * awaited in the error.
 */
export async function waitUntil(check: () => Promise<boolean>, what: string, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 30_000, intervalMs = 100, child } = options;
  const context = () => `\n${options.describe?.() ?? ''}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      const how = child.exitCode !== null ? `exited with ${child.exitCode}` : `killed by ${child.signalCode}`;
      throw new Error(`${what}: process ${how} before it was ready${context()}`);
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms${context()}`);
}

/** Polls `url` until it answers with one of `statuses` (default 200); see {@link waitUntil}. */
export async function waitForHttp(
  url: string,
  options: WaitOptions & { statuses?: readonly number[] } = {},
): Promise<void> {
  const { statuses = [200] } = options;
  let last = 0;
  await waitUntil(
    async () => {
      last = await httpStatus(url);
      return statuses.includes(last);
    },
    `${url} (expecting ${statuses.join('/')})`,
    { ...options, describe: () => `(last status: ${last})\n${options.describe?.() ?? ''}` },
  );
}

/** Sends `signal`, waits for the exit (SIGKILL after `graceMs`); resolves with the exit code or signal. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve(code ?? sig);
    });
    child.kill(signal);
  });
}
