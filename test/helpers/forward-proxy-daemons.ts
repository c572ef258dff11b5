/**
 * Real outbound HTTP forward proxies from Debian, started by hand on 127.0.0.1 with a config in a
 * temp dir and their usual access rules: tinyproxy (`ConnectPort 443` and `563`, the lines of
 * tinyproxy's sample config, which Debian's packaged copy leaves commented out) and Squid (its
 * stock `http_access deny CONNECT !SSL_ports`, plain-HTTP requests to any port above 1024 allowed).
 * Both refuse a CONNECT tunnel to a registry on a high port, as many corporate proxies do.
 *
 * `requests()` reads the proxy's own log as `METHOD target` lines (`GET http://127.0.0.1:5000/v2/`,
 * `CONNECT 127.0.0.1:5000`), so a test proves what went through it and in which form.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { readLog, requireBinary, spawnLogged, stopChild, waitUntil } from './process.ts';

/** A forward proxy daemon started by {@link startTinyproxy} or {@link startSquid}. */
export interface ProxyDaemon {
  /** `tinyproxy` or `squid`. */
  readonly name: string;
  /** `http://127.0.0.1:PORT`, for `httpProxy.url`. */
  readonly url: string;
  readonly port: number;
  /** The log `requests()` reads. */
  readonly logFile: string;
  /** `METHOD target` of every request the proxy logged, in order, refused ones included. */
  requests(): string[];
  /** The log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** How {@link launch} starts one daemon and reads its log. */
interface DaemonStart {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  /** Its folder: the daemon's stdout and stderr go to `DIR/NAME.out`. */
  readonly dir: string;
  readonly port: number;
  /** A file and the words in it that say the daemon accepts connections. */
  readonly ready: { readonly file: string; readonly text: string };
  /** The log of requests, and how to read `METHOD target` lines out of it. */
  readonly logFile: string;
  readonly parse: (log: string) => string[];
}

/** Starts a daemon (without the caller's proxy settings or credentials) and waits until it is ready. */
async function launch(start: DaemonStart): Promise<ProxyDaemon> {
  const out = join(start.dir, `${start.name}.out`);
  const child = spawnLogged(start.binary, start.args, out, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: start.dir },
  });
  await waitUntil(async () => readLog(start.ready.file).includes(start.ready.text), `${start.name} on ${start.port}`, {
    child,
    describe: () => `${readLog(start.ready.file).slice(-2000)}\n${readLog(out).slice(-2000)}`,
  });
  const log = () => readLog(start.logFile);
  return {
    name: start.name,
    url: `http://127.0.0.1:${start.port}`,
    port: start.port,
    logFile: start.logFile,
    requests: () => start.parse(log()),
    log,
    async stop() {
      await stopChild(child, 'SIGTERM');
    },
  };
}

/**
 * tinyproxy in the foreground (`-d`) on a free port; `dir` holds its config, log and pid file.
 * With `basicAuth` it answers 407 to every request without those credentials.
 */
export async function startTinyproxy(
  dir: string,
  options: { basicAuth?: { username: string; password: string } } = {},
): Promise<ProxyDaemon> {
  const binary = requireBinary('tinyproxy', 'tinyproxy');
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const configFile = join(dir, 'tinyproxy.conf');
  await writeFile(
    configFile,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      `PidFile "${join(dir, 'tinyproxy.pid')}"`,
      'MaxClients 100',
      'Allow 127.0.0.1',
      'ViaProxyName "tinyproxy"',
      'ConnectPort 443',
      'ConnectPort 563',
      ...(options.basicAuth === undefined
        ? []
        : [`BasicAuth ${options.basicAuth.username} ${options.basicAuth.password}`]),
      '',
    ].join('\n'),
  );
  return launch({
    name: 'tinyproxy',
    binary,
    args: ['-d', '-c', configFile],
    dir,
    port,
    ready: { file: logFile, text: 'Accepting connections' },
    logFile,
    // `CONNECT   Dec 06 19:42:42.051 [10370]: Request (file descriptor 5): GET http://host:port/path HTTP/1.1`
    parse: (log) =>
      [...log.matchAll(/: Request \(file descriptor \d+\): (\S+) (\S+) HTTP\//g)].map((m) => `${m[1]} ${m[2]}`),
  });
}

/**
 * Squid in the foreground (`-N`) on a free port, caching nothing. Started as root it runs as the
 * `proxy` user, so its log folder is made writable for it.
 */
export async function startSquid(dir: string): Promise<ProxyDaemon> {
  const binary = requireBinary('squid', 'squid');
  const port = await freePort();
  const logs = join(dir, 'squid');
  await mkdir(logs, { recursive: true });
  await chmod(dir, 0o755);
  await chmod(logs, 0o777);
  const logFile = join(logs, 'access.log');
  const configFile = join(dir, 'squid.conf');
  await writeFile(
    configFile,
    [
      // The access rules of Debian's squid.conf, less the LAN and the manager entries.
      'acl SSL_ports port 443',
      'acl Safe_ports port 80',
      'acl Safe_ports port 443',
      'acl Safe_ports port 1025-65535',
      'http_access deny !Safe_ports',
      'http_access deny CONNECT !SSL_ports',
      'http_access allow localhost',
      'http_access deny all',
      `http_port 127.0.0.1:${port}`,
      `pid_filename ${join(logs, 'squid.pid')}`,
      `access_log stdio:${logFile}`,
      `cache_log ${join(logs, 'cache.log')}`,
      'cache_store_log none',
      `coredump_dir ${logs}`,
      'netdb_filename none',
      'cache deny all',
      'cache_mem 8 MB',
      'pinger_enable off',
      'shutdown_lifetime 0 seconds',
      'visible_hostname regctl-test',
      // Host names are never looked up off the machine (tests use 127.0.0.1 anyway).
      'dns_nameservers 127.0.0.1',
      '',
    ].join('\n'),
  );
  // The service name names Squid's shared-memory segments: unique, so that parallel runs do not collide.
  const service = `regctl${randomBytes(4).toString('hex')}`;
  return launch({
    name: 'squid',
    binary,
    args: ['-N', '-n', service, '-f', configFile],
    dir,
    port,
    ready: { file: join(logs, 'cache.log'), text: 'Accepting HTTP Socket connections' },
    logFile,
    // `1796586185.769  2 127.0.0.1 TCP_MISS/200 733 GET http://host:port/path - HIER_DIRECT/127.0.0.1 text/html`
    parse: (log) =>
      log
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields.length > 6 && /^[A-Z]+$/.test(fields[5]!))
        .map((fields) => `${fields[5]} ${fields[6]}`),
  });
}
