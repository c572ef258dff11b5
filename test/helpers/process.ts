/**
 * Small process utilities shared by the helpers that start daemons (distribution, regctl,
 * containerd, dockerd): run a command to completion, find a binary, wait for a URL, stop a child.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
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
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
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

/**
 * Polls `url` until it answers with one of `statuses`, the child exits, or `timeoutMs` passes.
 * `describe` supplies context (a log tail) for the error.
 */
export async function waitForHttp(
  url: string,
  options: { statuses?: readonly number[]; timeoutMs?: number; child?: ChildProcess; describe?: () => string },
): Promise<void> {
  const { statuses = [200], timeoutMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (options.child && options.child.exitCode !== null) {
      throw new Error(
        `process exited with ${options.child.exitCode} before ${url} answered\n${options.describe?.() ?? ''}`,
      );
    }
    if (options.child?.signalCode) {
      throw new Error(
        `process killed by ${options.child.signalCode} before ${url} answered\n${options.describe?.() ?? ''}`,
      );
    }
    last = await httpStatus(url);
    if (statuses.includes(last)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${url} did not answer ${statuses.join('/')} within ${timeoutMs} ms (last: ${last})\n${options.describe?.() ?? ''}`,
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
