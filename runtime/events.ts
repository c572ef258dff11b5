/**
 * What the registry reports about itself besides answering: the observer interfaces the layers
 * below the server call (the upstream client, proxy and group repositories) and the artifact
 * events the HTTP layer emits for the audit log and webhooks. Implemented by `runtime/metrics/`
 * and `runtime/server/observability.ts`; every method is cheap and never throws.
 */

/** How one proxy request was answered, as `regctl_proxy_cache_requests_total` counts it. */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'negative';

/** What one upstream client reports (bound to its upstream at creation). */
export interface UpstreamObserver {
  /** One HTTP exchange with the upstream: `status` 0 when no answer came (network error). */
  request(method: string, status: number, seconds: number): void;
  /** A failure by kind (the `UpstreamError` code, lower case without the prefix). */
  error(kind: string): void;
  /** Body bytes received for a manifest or blob. */
  bytes(kind: 'manifest' | 'blob', count: number): void;
  /** The quota headers of a response from the upstream's own origin. */
  rateLimit(limit: number | undefined, remaining: number | undefined, windowSeconds: number | undefined): void;
}

/** What a proxy repository reports. */
export interface ProxyObserver {
  cache(kind: 'manifest' | 'blob', result: CacheResult): void;
  /** A stale tag checked upstream: `unchanged`, `changed`, or `failed` (served stale or refused). */
  revalidation(result: 'unchanged' | 'changed' | 'failed'): void;
  /** A request that joined another's upstream fetch instead of starting its own. */
  coalesced(kind: 'manifest' | 'blob'): void;
  /**
   * A blob body whose upstream connection dropped, asked again: `continued` from the byte reached
   * (a 206), or `restarted` (read again from 0 and checked up to that byte).
   */
  resumed(how: 'continued' | 'restarted'): void;
  readonly upstream: UpstreamObserver;
}

/** What a group repository reports: which member answered a read. */
export interface GroupObserver {
  memberHit(member: string): void;
}

/** Creates the observers of a plan's repositories; the metrics implement it. */
export interface RepositoryObservers {
  proxy(repository: string, credential: string): ProxyObserver;
  group(group: string): GroupObserver;
}

/** Observers that record nothing (metrics off, unit tests). */
export const NO_UPSTREAM_OBSERVER: UpstreamObserver = Object.freeze({
  request() {},
  error() {},
  bytes() {},
  rateLimit() {},
});
export const NO_PROXY_OBSERVER: ProxyObserver = Object.freeze({
  cache() {},
  revalidation() {},
  coalesced() {},
  resumed() {},
  upstream: NO_UPSTREAM_OBSERVER,
});
export const NO_GROUP_OBSERVER: GroupObserver = Object.freeze({ memberHit() {} });

/** The request an artifact event came from (the CNCF envelope's `request`). */
export interface EventRequest {
  readonly id: string;
  readonly addr: string;
  readonly host: string;
  readonly method: string;
  readonly userAgent: string;
}

/** A push, delete or pull of a manifest, tag or blob, after it succeeded. */
export interface ArtifactEvent {
  readonly action: 'push' | 'delete' | 'pull';
  /** The plan repository it happened in. */
  readonly repository: string;
  /** The name as the client wrote it (`team-a/app`, routing prefix included). */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly size?: number;
  /** The digest the pushed tag pointed to before, when the push moved it. */
  readonly previousDigest?: string;
  /** The authenticated user, or null (anonymous). */
  readonly user: string | null;
  readonly request: EventRequest;
  /** `http(s)://host` the client used, for the envelope's `target.url`. */
  readonly origin: string;
  /** Set when the operation failed (a registry error code): audited, never sent to webhooks. */
  readonly error?: string;
}

/** Where the HTTP layer sends artifact events and refusals. */
export interface EventSink {
  artifact(event: ArtifactEvent): void;
  /** A failed login or refused permission (also counted as `regctl_auth_failures_total`). */
  authFailure(failure: AuthFailure): void;
  /** Which events anyone listens to: the HTTP layer builds none that nobody wants. */
  wants(action: ArtifactEvent['action']): boolean;
}

/** Why a request was refused by auth. */
export type AuthFailureReason =
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'denied'
  | 'throttled';

export interface AuthFailure {
  readonly reason: AuthFailureReason;
  /** The user name as sent (Basic), or null. Never the password or the token. */
  readonly user: string | null;
  readonly addr: string;
  readonly repository?: string;
  readonly name?: string;
  readonly actions?: readonly string[];
  readonly requestId: string;
}
