/**
 * `regctl serve` as a real child process, exactly as a user runs it (`node bin/regctl.mjs serve
 * --config FILE`), for end-to-end tests with real clients and for the benchmark.
 *
 * The helper writes the config into a temp dir — a TypeScript file importing the repository's
 * `schema/index.ts` by absolute path, so the real loader path is exercised — giving every listener
 * whose `port` is 0 or missing a free loopback port. Relative blob-store paths resolve against that
 * temp dir. Logs go to `logFile`; `stop()` is SIGTERM (graceful), `kill()` SIGKILL (a crash),
 * `restart()` starts the same config on the same ports again. `startExample` serves one of the
 * repository's `examples/` as a user would, only moved off its fixed port.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigInput, ListenerInput } from '../../schema/index.ts';
import { freePort } from './free-port.ts';
import { readLog, spawnLogged, stopChild, waitForHttp, waitUntil } from './process.ts';

/** The repository root (where `bin/regctl.mjs` lives). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The schema module test configs import, by absolute path. */
const SCHEMA_MODULE = join(REPO_ROOT, 'schema', 'index.ts');

/** A config as tests write it: listener ports may be left out (0) to get free ones. */
export type TestConfig = Omit<ConfigInput, 'listeners'> & {
  listeners: (Omit<ListenerInput, 'port'> & { port?: number })[];
};

export interface RegctlServerOptions {
  /** Temp dir for the config file, log and (relative) blob stores. */
  dir: string;
  /** The config to write as `DIR/registry.config.ts`, or … */
  config?: TestConfig;
  /** … an existing config file to serve as is; then `ports` must list its listeners' ports. */
  configFile?: string;
  ports?: readonly number[];
  /** Extra environment (secrets referenced by the config, REGCTL_* knobs). */
  env?: NodeJS.ProcessEnv;
  /** Extra arguments after `serve --config FILE` (e.g. `--watch`). */
  args?: readonly string[];
  /**
   * Where the server's output goes (default `DIR/regctl.log`). The benchmark puts it outside the
   * config folder, which `serve` watches: every write to a file in that folder wakes the watcher.
   */
  logFile?: string;
  /** Milliseconds to wait for `/-/health` (default 30 s). */
  startTimeoutMs?: number;
}

export interface RegctlServer {
  /** `http://127.0.0.1:PORT` of the first listener. */
  readonly url: string;
  /** `127.0.0.1:PORT` of the first listener, for image references. */
  readonly host: string;
  readonly port: number;
  /** Every listener's port, in config order. */
  readonly ports: readonly number[];
  readonly configFile: string;
  readonly logFile: string;
  /** The current child's pid (changes on restart). */
  pid(): number;
  log(): string;
  /**
   * Waits (at most `timeoutMs`, default 5 s) until the log matches `pattern`: regctl logs
   * asynchronously, so a line can reach the file after the answer reached the client.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s); resolves with the exit code or signal. */
  stop(): Promise<number | NodeJS.Signals | null>;
  /** SIGKILL: a crash, nothing flushed. */
  kill(): Promise<void>;
  /** Starts the same config again (after stop/kill), on the same ports. */
  restart(): Promise<void>;
}

/** Serialises a test config as a TypeScript config file importing the repository's schema. */
export function configSource(config: ConfigInput): string {
  return `import { defineConfig } from ${JSON.stringify(SCHEMA_MODULE)};\n\nexport default defineConfig(${JSON.stringify(config, null, 2)});\n`;
}

/** Writes the config, starts `regctl serve` and waits until `/-/health` answers 200. */
export async function startRegctl(options: RegctlServerOptions): Promise<RegctlServer> {
  let configFile: string;
  let ports: readonly number[];
  if (options.config) {
    const listeners = [];
    for (const listener of options.config.listeners) {
      listeners.push({ ...listener, host: listener.host ?? '127.0.0.1', port: listener.port || (await freePort()) });
    }
    const config = { ...options.config, listeners } as ConfigInput;
    configFile = join(options.dir, 'registry.config.ts');
    await writeFile(configFile, configSource(config));
    ports = listeners.map((l) => l.port);
  } else if (options.configFile && options.ports) {
    configFile = options.configFile;
    ports = options.ports;
  } else {
    throw new Error('startRegctl: give `config`, or `configFile` with `ports`');
  }
  const logFile = options.logFile ?? join(options.dir, 'regctl.log');
  const port = ports[0];
  if (port === undefined) throw new Error('startRegctl: the config needs at least one listener');
  let child: ChildProcess | undefined;
  const log = () => readLog(logFile);

  const start = async () => {
    child = spawnLogged(
      process.execPath,
      [join(REPO_ROOT, 'bin/regctl.mjs'), 'serve', '--config', configFile, ...(options.args ?? [])],
      logFile,
      { cwd: options.dir, env: { ...process.env, NODE_ENV: 'test', ...options.env } },
    );
    await waitForHttp(`http://127.0.0.1:${port}/-/health`, {
      child,
      timeoutMs: options.startTimeoutMs ?? 30_000,
      describe: () => `--- ${logFile}\n${log().slice(-4000)}`,
    });
  };
  await start();

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    ports,
    configFile,
    logFile,
    pid: () => child?.pid ?? 0,
    log,
    waitForLog: (pattern, timeoutMs = 5000) =>
      waitUntil(async () => pattern.test(log()), `regctl's log to match ${pattern}`, {
        timeoutMs,
        intervalMs: 50,
        describe: () => log().slice(-4000),
      }),
    async stop() {
      return child ? stopChild(child, 'SIGTERM') : null;
    },
    async kill() {
      if (child) await stopChild(child, 'SIGKILL');
    },
    async restart() {
      if (child && child.exitCode === null && child.signalCode === null) await stopChild(child, 'SIGTERM');
      await start();
    },
  };
}

/** The two lines {@link startExample} rewrites in an example's config. */
const EXAMPLE_PORT = /port: 5000\b/;
const EXAMPLE_SCHEMA_IMPORT = `from '../../schema/index.ts'`;

/**
 * Serves `examples/<name>/registry.config.ts` copied into `dir` with two edits only: its listener
 * port 5000 becomes a free loopback port, and its relative schema import an absolute one. Throws
 * (before starting anything) when the config lacks either line, rather than binding port 5000.
 * `examplesDir` defaults to the repository's `examples/`.
 */
export async function startExample(
  name: string,
  dir: string,
  examplesDir = join(REPO_ROOT, 'examples'),
): Promise<RegctlServer> {
  const file = join(examplesDir, name, 'registry.config.ts');
  const source = await readFile(file, 'utf8');
  if (!EXAMPLE_PORT.test(source) || !source.includes(EXAMPLE_SCHEMA_IMPORT)) {
    throw new Error(
      `startExample: ${file} needs \`port: 5000\` and \`${EXAMPLE_SCHEMA_IMPORT}\` to be served on a free port`,
    );
  }
  const port = await freePort();
  const configFile = join(dir, 'registry.config.ts');
  await writeFile(
    configFile,
    source
      .replace(EXAMPLE_PORT, `port: ${port}`)
      .replace(EXAMPLE_SCHEMA_IMPORT, `from ${JSON.stringify(SCHEMA_MODULE)}`),
  );
  return startRegctl({ dir, configFile, ports: [port] });
}
