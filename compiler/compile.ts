/**
 * The pure compiler: a checked config (defaults filled) → the frozen, hashed {@link Plan}. No I/O
 * besides path arithmetic; the same config always gives the same plan and id.
 */
import { isAbsolute, resolve } from 'node:path';
import {
  type BlobStoreConfig,
  type CleanupRuleConfig,
  type Config,
  type HttpProxyConfig,
  type ListenerConfig,
  LOGIN_THROTTLE_DEFAULTS,
  parseDuration,
  parseSize,
  type RepositoryConfig,
} from '../schema/index.ts';
import { compileObservability } from './compile-observability.ts';
import { flattenGroup } from './groups.ts';
import { parseImageReference } from './image-reference.ts';
import {
  type BlobStorePlan,
  type CleanupRulePlan,
  computePlanId,
  deepFreeze,
  type HttpProxyPlan,
  type ListenerPlan,
  type LoginThrottlePlan,
  type PermissionPlan,
  type Plan,
  type PrefetchPlan,
  type RepositoryPlan,
  type SecurityPlan,
  type UploadsPlan,
} from './plan.ts';

export interface CompileOptions {
  /** Folder of the config file: relative paths (file stores, TLS files) are resolved against it. */
  configDir: string;
  /** The references of each proxy's prefetch list file, by repository (read by build.ts). */
  prefetchLists?: ReadonlyMap<string, readonly string[]>;
}

/** Hosts whose registry is Docker Hub: proxies of them default to the `docker-hub` index. */
export const DOCKER_HUB_HOSTS = ['registry-1.docker.io', 'docker.io', 'index.docker.io'] as const;

/** Compiles a config that passed {@link checkConfig} without errors. */
export function compilePlan(config: Config, options: CompileOptions): Plan {
  const abs = (path: string) => (isAbsolute(path) ? resolve(path) : resolve(options.configDir, path));
  const blobStores: Record<string, BlobStorePlan> = {};
  for (const store of config.blobStores) blobStores[store.name] = compileBlobStore(store, config, abs);
  const byName = new Map(config.repositories.map((r) => [r.name, r] as const));
  const repositories: Record<string, RepositoryPlan> = {};
  for (const repo of config.repositories)
    repositories[repo.name] = compileRepository(repo, config, byName, abs, options.prefetchLists);
  const body: Omit<Plan, 'id'> = {
    version: 1,
    blobStores,
    repositories,
    listeners: compileListeners(config.listeners, abs),
    security: compileSecurity(config),
    reload: { timeoutMs: parseDuration(config.reload.timeout) },
    ...compileObservability(config, abs),
    ...(config.gc === undefined
      ? {}
      : {
          gc: {
            intervalMs: config.gc.interval === undefined ? 0 : parseDuration(config.gc.interval),
            gracePeriodMs: parseDuration(config.gc.gracePeriod),
            ...(config.gc.settle === undefined ? {} : { settleMs: parseDuration(config.gc.settle) }),
          },
        }),
    ...(config.ui ? {} : { ui: { enabled: false } }),
  };
  return deepFreeze({ id: computePlanId(body), ...body });
}

function compileBlobStore(store: BlobStoreConfig, config: Config, abs: (p: string) => string): BlobStorePlan {
  const uploads: UploadsPlan = {
    timeoutMs: parseDuration(store.uploadTimeout ?? config.uploadTimeout),
    maxBytes: store.maxUploadBytes === undefined ? null : parseSize(store.maxUploadBytes),
  };
  if (store.type === 'file') return { name: store.name, driver: 'file', path: abs(store.path), uploads };
  return {
    name: store.name,
    driver: 's3',
    uploads,
    bucket: store.bucket,
    prefix: store.prefix.replace(/^\/+|\/+$/g, ''),
    region: store.region,
    endpoint: typeof store.endpoint === 'string' ? store.endpoint.replace(/\/+$/, '') : (store.endpoint ?? null),
    forcePathStyle: store.forcePathStyle,
    credentials: store.credentials ?? null,
    redirect: store.redirect,
    partSize: parseSize(store.partSize),
  };
}

function compileHttpProxy(proxy: HttpProxyConfig): HttpProxyPlan {
  return { url: proxy.url.replace(/\/+$/, ''), auth: proxy.auth ?? null, noProxy: [...proxy.noProxy] };
}

function compileRepository(
  repo: RepositoryConfig,
  config: Config,
  byName: Map<string, RepositoryConfig>,
  abs: (path: string) => string,
  prefetchLists: ReadonlyMap<string, readonly string[]> | undefined,
): RepositoryPlan {
  const base = {
    name: repo.name,
    online: repo.online,
    blobStore: repo.blobStore,
    access: { anonymous: sortActions(repo.anonymous) },
  };
  switch (repo.type) {
    case 'hosted':
      return {
        ...base,
        type: 'hosted',
        deploymentPolicy: repo.deploymentPolicy,
        ...(repo.cleanup === undefined || repo.cleanup.length === 0
          ? {}
          : { cleanup: repo.cleanup.map(compileCleanupRule) }),
        ...(repo.quota === undefined ? {} : { quotaBytes: parseSize(repo.quota) }),
      };
    case 'group':
      return {
        ...base,
        type: 'group',
        members: flattenGroup(repo.name, byName).members,
        writableMember: repo.writableMember ?? null,
      };
    case 'proxy': {
      const url = repo.remote.url.replace(/\/+$/, '');
      const host = new URL(url).hostname;
      const httpProxy = repo.httpProxy === false ? null : (repo.httpProxy ?? config.httpProxy);
      return {
        ...base,
        type: 'proxy',
        remote: {
          url,
          index:
            repo.remote.index ?? ((DOCKER_HUB_HOSTS as readonly string[]).includes(host) ? 'docker-hub' : 'registry'),
          auth: repo.remote.auth ?? null,
          timeoutMs: parseDuration(repo.remote.timeout),
          ...(repo.remote.mirrors === undefined || repo.remote.mirrors.length === 0
            ? {}
            : {
                mirrors: repo.remote.mirrors.map((mirror) => mirror.replace(/\/+$/, '')),
                mirrorsFirst: repo.remote.mirrorsFirst,
              }),
          ...(repo.remote.maxConcurrency === undefined ? {} : { maxConcurrency: repo.remote.maxConcurrency }),
        },
        metadataMaxAgeMs: parseDuration(repo.metadataMaxAge),
        negativeCacheTtlMs: parseDuration(repo.negativeCacheTtl),
        offline: repo.offline,
        httpProxy: httpProxy ? compileHttpProxy(httpProxy) : null,
        ...(repo.maxSize === undefined ? {} : { maxSizeBytes: parseSize(repo.maxSize) }),
        ...(repo.prefetch === undefined ? {} : { prefetch: compilePrefetch(repo, abs, prefetchLists) }),
      };
    }
  }
}

function compilePrefetch(
  repo: Extract<RepositoryConfig, { type: 'proxy' }>,
  abs: (path: string) => string,
  lists: ReadonlyMap<string, readonly string[]> | undefined,
): PrefetchPlan {
  const prefetch = repo.prefetch!;
  const inline = Array.isArray(prefetch.images);
  const references = Array.isArray(prefetch.images) ? prefetch.images : (lists?.get(repo.name) ?? []);
  return {
    // Each image once, in the order first written.
    images: [...new Set(references)].map((value) => parseImageReference(value)),
    intervalMs: parseDuration(prefetch.interval),
    ...(inline ? {} : { file: abs((prefetch.images as { file: string }).file) }),
  };
}

function compileCleanupRule(rule: CleanupRuleConfig): CleanupRulePlan {
  return {
    ...(rule.tags === undefined ? {} : { tags: rule.tags }),
    ...(rule.protect === undefined ? {} : { protect: rule.protect }),
    ...(rule.keep === undefined ? {} : { keep: rule.keep }),
    ...(rule.olderThan === undefined ? {} : { olderThanMs: parseDuration(rule.olderThan) }),
    ...(rule.notPulledFor === undefined ? {} : { notPulledForMs: parseDuration(rule.notPulledFor) }),
  };
}

const ACTION_ORDER = ['pull', 'push', 'delete'] as const;
function sortActions(actions: readonly (typeof ACTION_ORDER)[number][]) {
  return ACTION_ORDER.filter((a) => actions.includes(a));
}

function sortedRecord(entries: Iterable<[string, string]>): Record<string, string> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Listeners on one host:port merge into one route table (conflicts were rejected by a rule). */
function compileListeners(listeners: readonly ListenerConfig[], abs: (p: string) => string): ListenerPlan[] {
  const merged = new Map<string, ListenerPlan>();
  for (const listener of listeners) {
    const id = `${listener.host}:${listener.port}`;
    const paths: [string, string][] = Array.isArray(listener.paths)
      ? listener.paths.map((n) => [n, n])
      : Object.entries(listener.paths);
    const lower = (record: Record<string, string>) =>
      Object.entries(record).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
    const previous = merged.get(id);
    merged.set(id, {
      id,
      host: listener.host,
      port: listener.port,
      tls:
        previous?.tls ?? (listener.tls ? { certFile: abs(listener.tls.cert), keyFile: abs(listener.tls.key) } : null),
      mirrors: sortedRecord([...Object.entries(previous?.mirrors ?? {}), ...lower(listener.mirrors)]),
      virtualHosts: sortedRecord([...Object.entries(previous?.virtualHosts ?? {}), ...lower(listener.virtualHosts)]),
      paths: sortedRecord([...Object.entries(previous?.paths ?? {}), ...paths]),
      defaultRepository: previous?.defaultRepository ?? listener.repository ?? null,
    });
  }
  return [...merged.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function compileSecurity(config: Config): SecurityPlan {
  const { security } = config;
  const roles: Record<string, PermissionPlan[]> = {};
  for (const [name, permissions] of Object.entries(security.roles)) {
    roles[name] = permissions.map((p) => ({ repositories: [...p.repositories], actions: sortActions(p.actions) }));
  }
  return {
    realm: security.realm,
    users: security.users.map((user) => ({
      name: user.name,
      password: user.password,
      roles: [...user.roles],
      permissions: user.roles.flatMap((role) => roles[role] ?? []),
    })),
    roles,
    token: {
      enabled: security.token.enabled,
      issuer: security.token.issuer,
      service: security.token.service,
      ttlMs: parseDuration(security.token.ttl),
      signingKey: security.token.signingKey ?? null,
    },
    loginThrottle: compileLoginThrottle(security.loginThrottle ?? LOGIN_THROTTLE_DEFAULTS),
  };
}

function compileLoginThrottle(throttle: typeof LOGIN_THROTTLE_DEFAULTS): LoginThrottlePlan {
  return {
    enabled: throttle.enabled,
    perAddress: { burst: throttle.perAddress.burst, perMinute: throttle.perAddress.perMinute },
    perUser: { burst: throttle.perUser.burst, perMinute: throttle.perUser.perMinute },
    maxBackoffMs: parseDuration(throttle.maxBackoff),
    maxTracked: throttle.maxTracked,
  };
}
