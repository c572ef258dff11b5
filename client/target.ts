/**
 * The running registry a client command talks to (`warm`, `ls`, `rm`, `status`): its base URL
 * (`--registry`, or the first listener of the config) and the credentials to present, which come
 * from `REGCTL_USERNAME` / `REGCTL_PASSWORD` (both, or neither for anonymous access). Requests go
 * through an {@link UpstreamClient} whose "upstream" is that registry, so Basic and Docker token
 * authentication work as they do for a proxy's remote; failures are told from the client's side
 * ({@link describeRegistryFailure}).
 */
import { UpstreamClient } from '../runtime/upstream/client.ts';
import { isUpstreamError, withoutUserinfo } from '../runtime/upstream/errors.ts';

/**
 * Options that cannot work (a malformed URL, half a pair of credentials, nothing to do), found
 * before any request: the CLI exits 2 for these, as for any usage error.
 */
export class ClientUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientUsageError';
  }
}

/** Where the credentials came from, to name them in a refusal. */
export type CredentialSource = 'none' | 'env' | 'options';

export interface Credentials {
  readonly source: CredentialSource;
  readonly username?: string;
  readonly password?: string;
}

export interface TargetOptions {
  /** Base URL of the running registry; default: the first listener of the config's plan. */
  readonly registry?: string;
  readonly configPath?: string;
  /** Credentials (default: env `REGCTL_USERNAME` / `REGCTL_PASSWORD`). */
  readonly username?: string;
  readonly password?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** The registry's base URL without a trailing slash; a usage error naming what is wrong with `value`. */
export function registryUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ClientUsageError(`--registry ${value} is not an http(s) URL (e.g. http://127.0.0.1:5000)`);
  }
  return value.replace(/\/$/, '');
}

/**
 * The base URL of the config's first listener (`--config`, or the config found in the working
 * directory), for a command without `--registry`. The compiler is imported only on this path.
 */
async function registryFromConfig(options: TargetOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const { buildPlan, formatDiagnostics, loadConfig } = await import('../compiler/index.ts');
  const built = await buildPlan({ configPath: options.configPath, env, positions: false });
  if (built.ok) {
    const listener = built.plan.listeners[0];
    if (listener === undefined) throw new Error(`no --registry given, and ${built.configPath} has no listener`);
    return listenerUrl(listener.host, listener.port, listener.tls !== null);
  }
  // A config that loads but does not check (a broken commit the server refused to reload) still
  // names where the registry listens: `regctl status` is most needed right then.
  if (built.stage === 'check') {
    const loaded = await loadConfig({ configPath: options.configPath });
    const first = loaded.ok ? (loaded.value as { listeners?: unknown[] }).listeners?.[0] : undefined;
    const { host = '0.0.0.0', port, tls } = (first ?? {}) as { host?: unknown; port?: unknown; tls?: unknown };
    if (typeof host === 'string' && typeof port === 'number') return listenerUrl(host, port, tls !== undefined);
  }
  const errors = built.diagnostics.filter((d) => d.severity === 'error');
  throw new Error(
    `no --registry given, and the config that would name it cannot be used:\n${formatDiagnostics(errors, 'text')}`,
  );
}

function listenerUrl(listenHost: string, port: number, tls: boolean): string {
  const host = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The registry to talk to: `--registry`, or the config's first listener. */
export async function resolveRegistry(options: TargetOptions): Promise<string> {
  const env = options.env ?? process.env;
  return registryUrl(options.registry ?? (await registryFromConfig(options, env)));
}

/** What a client command talks to: the registry's URL, the credentials, and a client for it. */
export interface RegistryConnection {
  readonly registry: string;
  readonly credentials: Credentials;
  readonly client: UpstreamClient;
}

/**
 * {@link resolveRegistry}, {@link resolveCredentials} and {@link openRegistryClient} in one: how
 * every client command starts. The caller closes `client`.
 */
export async function connectRegistry(options: TargetOptions & { timeoutMs?: number }): Promise<RegistryConnection> {
  const registry = await resolveRegistry(options);
  const credentials = resolveCredentials(options);
  return { registry, credentials, client: openRegistryClient(registry, credentials, options.timeoutMs) };
}

/** The credentials of the options or the environment; a usage error for half a pair. */
export function resolveCredentials(options: TargetOptions): Credentials {
  const env = options.env ?? process.env;
  // An empty variable counts as unset, as for the config's own { env } references.
  const username = options.username ?? (env.REGCTL_USERNAME || undefined);
  const password = options.password ?? (env.REGCTL_PASSWORD || undefined);
  if ((username === undefined) !== (password === undefined)) {
    throw new ClientUsageError(
      username === undefined
        ? 'REGCTL_PASSWORD is set but REGCTL_USERNAME is not: set both, or neither for anonymous access'
        : 'REGCTL_USERNAME is set but REGCTL_PASSWORD is not: set both, or neither for anonymous access',
    );
  }
  if (username === undefined) return { source: 'none' };
  return { source: options.username !== undefined ? 'options' : 'env', username, password };
}

/** A client for `registry` (a base URL, possibly with a `/repository/<name>` prefix). */
export function openRegistryClient(registry: string, credentials: Credentials, timeoutMs = 60_000): UpstreamClient {
  return new UpstreamClient({
    url: registry,
    credentials:
      credentials.username !== undefined && credentials.password !== undefined
        ? { username: credentials.username, password: credentials.password }
        : null,
    timeoutMs,
    httpProxy: null,
    log: silent,
  });
}

/**
 * Why a request to `registryUrl` failed, in the client's terms: the registry is the client's
 * "upstream", so an `UpstreamError` is reworded to say that the registry itself refused or
 * failed, with the message of the registry's own error body when it sent one (a proxy
 * repository's reason for a 503, say). Never includes a credential.
 */
export function describeRegistryFailure(error: unknown, registryUrl: string, credentials: Credentials): string {
  if (!isUpstreamError(error)) return (error as Error | null)?.message ?? String(error);
  const registry = withoutUserinfo(registryUrl);
  const said = error.upstreamMessage === undefined ? '' : ` (the registry said: ${error.upstreamMessage})`;
  const status = error.status === undefined ? '' : ` (${error.status})`;
  const from =
    credentials.source === 'env' ? 'the credentials from REGCTL_USERNAME/REGCTL_PASSWORD' : 'the given credentials';
  switch (error.code) {
    case 'UPSTREAM_CREDENTIALS_REFUSED':
      return `the registry at ${registry} refused ${from}${status}`;
    case 'UPSTREAM_UNAUTHORIZED':
      if (credentials.source === 'none') {
        return `the registry at ${registry} requires authentication${status}: set REGCTL_USERNAME and REGCTL_PASSWORD`;
      }
      return `the registry at ${registry} refused user ${credentials.username} access${status}${said}`;
    case 'UPSTREAM_UNREACHABLE':
      return `the registry at ${registry} is unreachable (${error.reason})`;
    case 'UPSTREAM_TIMEOUT':
      return `the registry at ${registry} timed out ${error.reason}`;
    default:
      return `${error.message}${said}`;
  }
}

/**
 * Why an answer of the registry's own API (not a pull) is not the one wanted: 401 and 403 said in
 * terms of the credentials, else the status with the first error of the OCI body.
 */
export function describeRefusal(
  what: string,
  status: number,
  body: string,
  registryUrl: string,
  credentials: Credentials,
) {
  const registry = withoutUserinfo(registryUrl);
  let reason = body.slice(0, 300);
  try {
    const errors = (JSON.parse(body) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
    if (errors.length > 0) reason = errors.map((e) => `${e.code}: ${e.message}`).join('; ');
  } catch {}
  if (status === 401 && credentials.source === 'none')
    return `the registry at ${registry} requires authentication for ${what} (401): set REGCTL_USERNAME and REGCTL_PASSWORD`;
  if (status === 401) return `the registry at ${registry} refused the credentials of ${credentials.username} (401)`;
  if (status === 403) return `the registry at ${registry} does not allow ${what} (403): ${reason}`;
  return `${what}: the registry at ${registry} answered ${status}: ${reason}`;
}

/** `1.5 MiB`-style sizes for people (the one formatter, shared with gc and usage). */
export { formatBytes } from '../runtime/gc/format-report.ts';
