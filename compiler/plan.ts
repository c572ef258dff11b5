/**
 * The routing plan: the compiled, immutable output of a configuration.
 *
 * A plan is plain JSON (no functions, no class instances, no `undefined`), deeply frozen, and
 * identified by `id`, the SHA-256 of its canonical JSON (keys sorted) without the `id` field.
 * Same config → same id, whatever the key order the user wrote. The runtime reads only this.
 *
 * Durations are milliseconds, sizes bytes, paths absolute. Secrets appear only as
 * {@link SecretRef}s: the runtime resolves them at start, `redactPlan` hides them when printed.
 */

import { createHash } from 'node:crypto';
import type { AuditPlan, MetricsPlan, NotificationPlan } from './plan-observability.ts';

export type { AuditPlan, MetricsPlan, NotificationEvent, NotificationPlan } from './plan-observability.ts';
export { AUDIT_STDOUT } from './plan-observability.ts';

/** A secret that is never written into git: resolved from the environment at runtime. */
export interface SecretRef {
  readonly env: string;
}

export type Action = 'pull' | 'push' | 'delete';

export interface Plan {
  /** sha256 hex of the canonical JSON of every other field. */
  readonly id: string;
  readonly version: 1;
  readonly blobStores: Readonly<Record<string, BlobStorePlan>>;
  /** Every repository by name, groups already flattened. */
  readonly repositories: Readonly<Record<string, RepositoryPlan>>;
  /** One entry per bound address:port, sorted by `id`. */
  readonly listeners: readonly ListenerPlan[];
  readonly security: SecurityPlan;
  /**
   * How hot reloads run. Always set by the compiler; optional in the type so that plans written by
   * hand (test fixtures, benchmarks) need not carry it: absent means {@link DEFAULT_RELOAD_TIMEOUT_MS}.
   */
  readonly reload?: ReloadPlan;
  /** The Prometheus listener; absent: no metrics (plans without one keep their id). */
  readonly metrics?: MetricsPlan;
  /** The audit log; absent: none. */
  readonly audit?: AuditPlan;
  /** Webhook endpoints; absent or empty: none. */
  readonly notifications?: readonly NotificationPlan[];
  /** Garbage collection (docs/gc.md); absent when the config has no `gc` section. */
  readonly gc?: GcPlan;
  /** The web UI (docs/ui.md); absent: on (plans of configs without `ui: false` keep their id). */
  readonly ui?: UiPlan;
}

/** What the config's top-level `ui` compiles to; only written when it is off. */
export interface UiPlan {
  readonly enabled: boolean;
}

/** What a config's `gc` section compiles to. */
export interface GcPlan {
  /** How often every blob store is collected while serving; 0 = never on a schedule. */
  readonly intervalMs: number;
  readonly gracePeriodMs: number;
  /** How long removed content stays restorable before it is deleted; absent = min(grace, 60 s). */
  readonly settleMs?: number;
}

/** The grace period of a plan without a `gc` section (the schema's default, `'1h'`). */
export const DEFAULT_GC_GRACE_PERIOD_MS = 3_600_000;

/** One cleanup rule of a hosted repository (runtime/gc/cleanup.ts says what it does). */
export interface CleanupRulePlan {
  /** RegExp source selecting tags (absent: all). */
  readonly tags?: string;
  /** RegExp source of tags this rule never deletes. */
  readonly protect?: string;
  readonly keep?: number;
  readonly olderThanMs?: number;
  readonly notPulledForMs?: number;
}

/** What a config's `reload` section compiles to. */
export interface ReloadPlan {
  /** How long a reload may evaluate the config before the evaluation is killed and the reload fails. */
  readonly timeoutMs: number;
}

/** The reload timeout of a plan without a `reload` section (the schema's default, `'10s'`). */
export const DEFAULT_RELOAD_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Blob stores

export type BlobStorePlan = FileBlobStorePlan | S3BlobStorePlan;

/**
 * What a store does with upload sessions: a store's own `uploadTimeout` and `maxUploadBytes`, the
 * timeout defaulting to the top-level `uploadTimeout`.
 */
export interface UploadsPlan {
  /** A session without activity (its start, bytes of an append) for this long is deleted. */
  readonly timeoutMs: number;
  /** Cap on the bytes held by this store's sessions in progress; null = none. */
  readonly maxBytes: number | null;
}

/** The upload timeout of a store plan without `uploads` (the schema's default, `'1h'`). */
export const DEFAULT_UPLOAD_TIMEOUT_MS = 3_600_000;

/**
 * A store plan's upload settings. The compiler always sets `uploads`; it is optional in the type
 * so that plans written by hand (test fixtures, benchmarks) need not carry it: absent means
 * {@link DEFAULT_UPLOAD_TIMEOUT_MS} and no cap.
 */
export function uploadsOf(plan: BlobStorePlan): UploadsPlan {
  return plan.uploads ?? { timeoutMs: DEFAULT_UPLOAD_TIMEOUT_MS, maxBytes: null };
}

interface BlobStorePlanBase {
  readonly name: string;
  /** See {@link uploadsOf}. */
  readonly uploads?: UploadsPlan;
}

export interface FileBlobStorePlan extends BlobStorePlanBase {
  readonly driver: 'file';
  /** Absolute: a relative path in the config is resolved against the config file's folder. */
  readonly path: string;
}

export interface S3BlobStorePlan extends BlobStorePlanBase {
  readonly driver: 's3';
  readonly bucket: string | SecretRef;
  /** Key prefix inside the bucket, '' or ending without a slash. */
  readonly prefix: string;
  readonly region: string;
  /** Absolute http(s) URL of an S3-compatible endpoint, or a reference to one; null = AWS. */
  readonly endpoint: string | SecretRef | null;
  readonly forcePathStyle: boolean;
  /** null = the AWS SDK's default credential chain. */
  readonly credentials: { readonly accessKeyId: SecretRef; readonly secretAccessKey: SecretRef } | null;
  /** Answer blob GETs with a redirect to a presigned URL. */
  readonly redirect: boolean;
  /** Multipart part size in bytes. */
  readonly partSize: number;
}

// ---------------------------------------------------------------------------------------------
// Repositories

export type RepositoryPlan = HostedRepositoryPlan | ProxyRepositoryPlan | GroupRepositoryPlan;

export interface AccessPlan {
  /** What an anonymous client may do on this repository; [] = forced authentication. */
  readonly anonymous: readonly Action[];
}

interface RepositoryPlanBase {
  readonly name: string;
  readonly online: boolean;
  /** Name of a key of `Plan.blobStores`. */
  readonly blobStore: string;
  readonly access: AccessPlan;
}

export type DeploymentPolicy = 'allowRedeploy' | 'disableRedeploy' | 'readOnly';

export interface HostedRepositoryPlan extends RepositoryPlanBase {
  readonly type: 'hosted';
  readonly deploymentPolicy: DeploymentPolicy;
  /** Cleanup rules, applied by garbage collection; absent when none are configured. */
  readonly cleanup?: readonly CleanupRulePlan[];
  /** Most bytes the repository may hold; absent = no quota. */
  readonly quotaBytes?: number;
}

export interface HttpProxyPlan {
  /** http(s)://, socks5:// or socks5h://host:port of the outbound proxy (credentials never inline: see auth). */
  readonly url: string;
  readonly auth: { readonly username: string; readonly password: SecretRef } | null;
  /** Host names or suffixes (`.example.com`) or `*` that bypass the proxy. */
  readonly noProxy: readonly string[];
}

export interface ProxyRepositoryPlan extends RepositoryPlanBase {
  readonly type: 'proxy';
  readonly remote: {
    /** Absolute http(s) URL of the upstream registry, no trailing slash. */
    readonly url: string;
    /** 'docker-hub': single-segment names become `library/<name>` upstream and in the cache. */
    readonly index: 'docker-hub' | 'registry';
    /** Upstream credentials: username literal or ref, password always a ref. */
    readonly auth: { readonly username: string | SecretRef; readonly password: SecretRef } | null;
    readonly timeoutMs: number;
    /**
     * Absolute http(s) URLs of mirrors of the remote, no trailing slash, tried in this order
     * before `url` (after it when `mirrorsFirst` is false); absent when none are configured.
     */
    readonly mirrors?: readonly string[];
    /** Present (default true) only with `mirrors`. */
    readonly mirrorsFirst?: boolean;
    /** Most requests in flight to one endpoint at once; absent = unlimited. */
    readonly maxConcurrency?: number;
  };
  readonly metadataMaxAgeMs: number;
  readonly negativeCacheTtlMs: number;
  readonly offline: boolean;
  /** The outbound proxy in force for this repository (its own, else the global one), or null. */
  readonly httpProxy: HttpProxyPlan | null;
  /** Most bytes the cache may hold (least recently pulled evicted beyond); absent = unbounded. */
  readonly maxSizeBytes?: number;
  /** Images pulled through at start and every interval (runtime/prefetch/); absent = none. */
  readonly prefetch?: PrefetchPlan;
}

/** A proxy's declared prefetch: its images resolved (a list file read at build time). */
export interface PrefetchPlan {
  readonly images: readonly { readonly name: string; readonly reference: string }[];
  readonly intervalMs: number;
  /** The list file (absolute) the images were read from, when they came from one. */
  readonly file?: string;
}

export interface GroupRepositoryPlan extends RepositoryPlanBase {
  readonly type: 'group';
  /** Flattened: nested groups expanded in order, duplicates dropped (first wins); never a group. */
  readonly members: readonly string[];
  /** The hosted member that receives pushes through the group, or null (pushes refused). */
  readonly writableMember: string | null;
}

// ---------------------------------------------------------------------------------------------
// Listeners and routes

export interface ListenerPlan {
  /** `${host}:${port}`; unique. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /**
   * Route table, applied per request in this order:
   * 1. `?ns=<registry>` (containerd mirror) → `mirrors[ns]`;
   * 2. Host header (without port) → `virtualHosts[host]`;
   * 3. first path segment of the name → `paths[segment]` (the rest of the name is the image);
   *    `/repository/<repo>/v2/...` (Nexus-style path, containerd `override_path`) likewise;
   * 4. `defaultRepository` with the whole name as the image;
   * else NAME_UNKNOWN.
   */
  readonly mirrors: Readonly<Record<string, string>>;
  readonly virtualHosts: Readonly<Record<string, string>>;
  readonly paths: Readonly<Record<string, string>>;
  readonly defaultRepository: string | null;
}

// ---------------------------------------------------------------------------------------------
// Security

export interface PermissionPlan {
  /** Repository names or globs (`*` matches any run of characters, `docker-*`): see {@link compileGlob}. */
  readonly repositories: readonly string[];
  readonly actions: readonly Action[];
}

/**
 * What a repository glob in a permission means, for the compiler's checks and the runtime's
 * access policy alike: `*` matches any run of characters (including none), everything else is
 * literal. `docker-*` matches `docker-hub` and `docker-`; `*` matches every repository.
 */
export function compileGlob(pattern: string): RegExp {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

/**
 * One component of an OCI repository name, as the distribution spec's grammar has it:
 * `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. The compiler holds repository names to it (a repository's
 * name is the first path component clients use), the runtime every image name a client sends.
 */
export const NAME_COMPONENT_SOURCE = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';

/** An OCI tag: a word character first, then up to 127 of `[a-zA-Z0-9._-]`. */
export const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/**
 * True when `value` is a bcrypt hash that bcrypt can check: `$2a$`, `$2b$` or `$2y$`, a cost
 * of 04–31, and 53 characters of salt and hash. The compiler rejects other config hashes with
 * this test and the runtime applies it to hashes from the environment, so a hash that passes
 * `regctl validate` never fails at startup or at login.
 */
export function isBcryptHash(value: string): boolean {
  return /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/.test(value);
}

export interface UserPlan {
  readonly name: string;
  /** A bcrypt hash from the config, or the env variable holding the password (or a bcrypt hash). */
  readonly password: { readonly bcrypt: string } | SecretRef;
  readonly roles: readonly string[];
  /** The union of the user's roles' permissions, resolved at compile time. */
  readonly permissions: readonly PermissionPlan[];
}

export interface SecurityPlan {
  /** Basic realm shown in challenges. */
  readonly realm: string;
  readonly users: readonly UserPlan[];
  readonly roles: Readonly<Record<string, readonly PermissionPlan[]>>;
  readonly token: {
    readonly enabled: boolean;
    readonly issuer: string;
    readonly service: string;
    readonly ttlMs: number;
    /** HMAC key shared by replicas; null = a random key per process (single replica only). */
    readonly signingKey: SecretRef | null;
  };
  /**
   * Throttling of failed logins. Always set by the compiler; optional in the type so that plans
   * written by hand (test fixtures, benchmarks) need not carry it: absent means
   * {@link DEFAULT_LOGIN_THROTTLE}.
   */
  readonly loginThrottle?: LoginThrottlePlan;
}

/** One token bucket of failed logins: `burst` failures at once, then `perMinute` on average. */
export interface LoginBucketPlan {
  readonly burst: number;
  readonly perMinute: number;
}

/** What `security.loginThrottle` compiles to (see `runtime/auth/login-throttle.ts`). */
export interface LoginThrottlePlan {
  readonly enabled: boolean;
  /** Failed logins per client address (IPv6: per /64). */
  readonly perAddress: LoginBucketPlan;
  /** Failed logins per user name as sent, whether such a user exists or not. */
  readonly perUser: LoginBucketPlan;
  /** Longest interval between two tokens that the backoff doubles up to. */
  readonly maxBackoffMs: number;
  /** Most addresses, most user names (and most trusted pairs) tracked at once. */
  readonly maxTracked: number;
}

/** The login throttle of a plan without one: the schema's defaults. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePlan = Object.freeze({
  enabled: true,
  perAddress: Object.freeze({ burst: 30, perMinute: 10 }),
  perUser: Object.freeze({ burst: 10, perMinute: 5 }),
  maxBackoffMs: 15 * 60_000,
  maxTracked: 10_000,
});

// ---------------------------------------------------------------------------------------------
// Identity and immutability helpers (pure).

/**
 * Canonical JSON: object keys sorted at every level, no whitespace, `undefined` properties
 * dropped. Two plans that differ only in key order serialise identically.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** The plan id: sha256 hex of the canonical JSON of the plan without its `id` field. */
export function computePlanId(plan: Omit<Plan, 'id'> | Plan): string {
  const { id: _ignored, ...rest } = plan as Plan;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Freezes an object graph in place and returns it typed as deeply readonly. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
