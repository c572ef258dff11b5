/**
 * The CNCF distribution registry (Debian's `/usr/bin/docker-registry`, v2.8) on 127.0.0.1 with a
 * generated config: the real upstream for proxy tests and the baseline of the benchmark.
 *
 * Its output (access log in combined format, plus its own log lines) goes to `logFile`;
 * `countRequests(/GET \/v2\/.+\/blobs\//)` counts what reached it, which is how tests prove a cache hit.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './free-port.ts';
import type { Door, NetNs } from './netns.ts';
import { readLog, requireBinary, run, spawnLogged, stopChild, waitForHttp } from './process.ts';

export interface DistributionOptions {
  /** Working directory for config, storage and log (a fresh temp dir of the caller). */
  dir: string;
  /** HTTP basic auth with these users (file written with `htpasswd -Bbn`). */
  htpasswd?: Readonly<Record<string, string>>;
  /** Bearer token auth: the token server's realm URL, service, issuer and its PEM certificate bundle. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Pull-through cache mode of distribution itself. */
  proxy?: { remoteUrl: string; username?: string; password?: string };
  /** Log level (default 'warn': the access log is written at every level). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /**
   * Runs it inside this network namespace: `url` is then its address in there, and `door` the way
   * in from the test's namespace (for pushing fixtures; close it to leave the registry unreachable).
   */
  netns?: NetNs;
}

export interface Distribution {
  readonly url: string;
  readonly port: number;
  /** `127.0.0.1:PORT`, for image references. */
  readonly host: string;
  readonly rootDirectory: string;
  /** With `netns`: the door to it from the test's namespace. */
  readonly door?: Door;
  readonly logFile: string;
  readonly pid: number;
  /** The log so far. */
  log(): string;
  /** Access-log lines (`"METHOD /path HTTP/1.1" status`) matching `pattern`. */
  countRequests(pattern: RegExp): number;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Writes the config, starts the registry on a free port and waits until `/v2/` answers (200 or 401). */
export async function startDistribution(options: DistributionOptions): Promise<Distribution> {
  const binary = requireBinary('docker-registry', 'docker-registry');
  const { dir } = options;
  const rootDirectory = join(dir, 'storage');
  await mkdir(rootDirectory, { recursive: true });
  const port = await freePort();
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: options.logLevel ?? 'warn', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: rootDirectory },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
  };
  if (options.htpasswd) {
    const path = join(dir, 'htpasswd');
    const htpasswd = requireBinary('htpasswd', 'apache2-utils');
    let lines = '';
    for (const [user, password] of Object.entries(options.htpasswd)) {
      lines += (await run(htpasswd, ['-Bbn', user, password])).stdout.trim() + '\n';
    }
    await writeFile(path, lines);
    config.auth = { htpasswd: { realm: 'distribution', path } };
  }
  if (options.token) {
    const bundle = join(dir, 'token-root.pem');
    await writeFile(bundle, options.token.rootCertBundle);
    config.auth = {
      token: {
        realm: options.token.realm,
        service: options.token.service,
        issuer: options.token.issuer,
        rootcertbundle: bundle,
      },
    };
  }
  if (options.proxy) {
    config.proxy = {
      remoteurl: options.proxy.remoteUrl,
      username: options.proxy.username,
      password: options.proxy.password,
    };
  }
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, stringify(config));
  const logFile = join(dir, 'registry.log');
  // Never let it see a proxy or cloud credentials of the caller's environment.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  const child = options.netns
    ? options.netns.spawn(binary, ['serve', configFile], logFile, env)
    : spawnLogged(binary, ['serve', configFile], logFile, { env });
  const log = () => readLog(logFile);
  const door = await options.netns?.expose(port);
  await waitForHttp(`http://127.0.0.1:${door?.port ?? port}/v2/`, {
    statuses: [200, 401],
    child,
    describe: () => log().slice(-3000),
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    host: `127.0.0.1:${port}`,
    rootDirectory,
    ...(door ? { door } : {}),
    logFile,
    pid: child.pid ?? 0,
    log,
    countRequests(pattern) {
      let count = 0;
      for (const line of log().split('\n')) {
        const request = /"([A-Z]+ \S+ HTTP\/[\d.]+)" (\d{3})/.exec(line);
        if (request && pattern.test(`${request[1]} ${request[2]}`)) count++;
      }
      return count;
    },
    async stop() {
      await stopChild(child, 'SIGTERM');
    },
    async kill() {
      await stopChild(child, 'SIGKILL');
    },
  };
}
