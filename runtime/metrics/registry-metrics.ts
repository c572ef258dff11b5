/**
 * Every Prometheus metric of the registry, in one prom-client `Registry` per process (never the
 * global one), created once and kept across reloads: counters keep counting when the plan changes,
 * and a reload never registers a metric twice.
 *
 * Labels are bounded by the plan: repository, upstream, group and member names from the config,
 * route kinds and status codes — never an image name or tag from a request. A reload calls
 * {@link RegistryMetrics.applyPlan}: the series of repositories it removed are dropped, and a
 * request of the old plan that ends afterwards is counted under `repository=""` instead of bringing
 * them back. While the serving plan has no `metrics` section nothing is recorded (each method
 * returns at its first line), so a registry without metrics pays nothing for them.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Plan } from '../../compiler/plan.ts';
import type {
  AuthFailureReason,
  CacheResult,
  GroupObserver,
  ProxyObserver,
  RepositoryObservers,
  UpstreamObserver,
} from '../events.ts';
import { HttpSeries } from './http-series.ts';
import { SeriesCache } from './series.ts';
import { StorageMetrics } from './storage-metrics.ts';

/** Request latency buckets (seconds): a warm manifest GET is well under a millisecond. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const RELOAD_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const NOTHING = () => {};
/** The `method` label values; any other method is counted as `other`. */
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'other'];
const KNOWN_METHODS = new Set(METHODS.slice(0, -1));

/** The label values of one HTTP request (see {@link RegistryMetrics.httpRequest}). */
export interface HttpRequestSample {
  /** The plan repository it was routed to, when it was. */
  readonly repository: string | undefined;
  readonly method: string;
  /** The endpoint kind: `manifest`, `blob`, `upload`, `base`, `status`, … */
  readonly route: string;
  readonly status: number;
  readonly seconds: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** The circuit-breaker states `regctl_upstream_endpoint_state` reports (runtime/upstream/circuit-breaker.ts). */
const ENDPOINT_STATES = ['closed', 'open', 'half-open', 'rate-limited'] as const;

/** One proxy repository's endpoints as the endpoint gauge reads them. */
export interface ProxyEndpointStates {
  readonly repository: string;
  readonly endpoints: readonly { readonly url: string; readonly state: string }[];
}

export class RegistryMetrics implements RepositoryObservers {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  /** Blob store and repository usage, proxy cache sizes, GC passes (storage-metrics.ts). */
  readonly storage = new StorageMetrics(this.registry);
  #enabled = false;
  #defaults = false;
  #repositories: ReadonlySet<string> = new Set();

  readonly #http: HttpSeries;
  readonly #uploads: SeriesCache<Gauge.Internal<string>>;
  readonly #cache: SeriesCache<Counter.Internal>;
  readonly #revalidations: SeriesCache<Counter.Internal>;
  readonly #coalesced: SeriesCache<Counter.Internal>;
  readonly #resumes: SeriesCache<Counter.Internal>;
  readonly #upstreamRequests: SeriesCache<Counter.Internal>;
  readonly #upstreamDuration: SeriesCache<Histogram.Internal<string>>;
  readonly #upstreamBytes: SeriesCache<Counter.Internal>;
  readonly #upstreamErrors: SeriesCache<Counter.Internal>;
  readonly #rateLimitRemaining: SeriesCache<Gauge.Internal<string>>;
  readonly #rateLimitLimit: SeriesCache<Gauge.Internal<string>>;
  readonly #rateLimitWindow: SeriesCache<Gauge.Internal<string>>;
  readonly #upstreamInfo: SeriesCache<Gauge.Internal<string>>;
  #endpointSource: (() => readonly ProxyEndpointStates[]) | undefined;
  readonly #memberHits: SeriesCache<Counter.Internal>;
  readonly #authFailures: SeriesCache<Counter.Internal>;
  readonly #reloads: SeriesCache<Counter.Internal>;
  readonly #reloadDuration: Histogram<string>;
  readonly #planInfo: SeriesCache<Gauge.Internal<string>>;
  readonly #inSync: Gauge<string>;
  readonly #notificationsSent: SeriesCache<Counter.Internal>;
  readonly #notificationFailures: SeriesCache<Counter.Internal>;
  readonly #notificationsDropped: SeriesCache<Counter.Internal>;
  readonly #notificationQueue: SeriesCache<Gauge.Internal<string>>;
  readonly #auditLines: Counter<string>;
  readonly #auditErrors: Counter<string>;

  constructor() {
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[]) =>
      new SeriesCache(new Counter({ name, help, labelNames, registers }));
    const gauge = (name: string, help: string, labelNames: string[]) =>
      new SeriesCache(new Gauge({ name, help, labelNames, registers }));
    const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) =>
      new SeriesCache(new Histogram({ name, help, labelNames, buckets, registers }));

    this.#http = new HttpSeries(this.registry, { buckets: HTTP_BUCKETS, methods: METHODS });
    this.#uploads = gauge('regctl_uploads_in_progress', 'Upload requests whose body is being received, by repository', [
      'repository',
    ]);
    this.#cache = counter(
      'regctl_proxy_cache_requests_total',
      'Proxy requests by how the cache answered: hit, miss (fetched upstream), stale (upstream down), negative (known missing)',
      ['repository', 'kind', 'result'],
    );
    this.#revalidations = counter(
      'regctl_proxy_revalidations_total',
      'Cached tags older than metadataMaxAge checked upstream, by result: unchanged, changed, failed',
      ['repository', 'result'],
    );
    this.#coalesced = counter(
      'regctl_proxy_coalesced_total',
      "Proxy requests that joined another request's upstream fetch instead of starting one",
      ['repository', 'kind'],
    );
    this.#resumes = counter(
      'regctl_proxy_blob_resumes_total',
      'Upstream blob bodies asked again after their connection dropped: continued (206 from the byte reached) or restarted (read again from 0)',
      ['repository', 'how'],
    );
    this.#upstreamRequests = counter(
      'regctl_upstream_requests_total',
      'HTTP requests sent to each upstream, by method and status (0: no answer)',
      ['upstream', 'method', 'status'],
    );
    this.#upstreamDuration = histogram(
      'regctl_upstream_request_duration_seconds',
      'Time until the upstream answered with headers, by method',
      ['upstream', 'method'],
      UPSTREAM_BUCKETS,
    );
    this.#upstreamBytes = counter('regctl_upstream_bytes_total', 'Body bytes fetched from each upstream, by kind', [
      'upstream',
      'kind',
    ]);
    this.#upstreamErrors = counter(
      'regctl_upstream_errors_total',
      'Failed upstream requests by kind: timeout, unreachable, not_found, unauthorized, denied, rate_limited, bad_response, server_error, …',
      ['upstream', 'kind'],
    );
    this.#rateLimitRemaining = gauge(
      'regctl_upstream_ratelimit_remaining',
      'The last ratelimit-remaining header seen from each upstream (Docker Hub pull quota), per credential',
      ['upstream', 'credential'],
    );
    this.#rateLimitLimit = gauge(
      'regctl_upstream_ratelimit_limit',
      'The last ratelimit-limit header seen from each upstream, per credential',
      ['upstream', 'credential'],
    );
    this.#rateLimitWindow = gauge(
      'regctl_upstream_ratelimit_window_seconds',
      'The window of the last rate-limit header seen from each upstream, per credential',
      ['upstream', 'credential'],
    );
    const endpointSource = () => (this.#enabled ? this.#endpointSource?.() : undefined);
    new Gauge({
      name: 'regctl_upstream_endpoint_state',
      help: "Each endpoint of each proxy (mirrors and remote URL): 1 for its circuit breaker's state, 0 for the others",
      labelNames: ['upstream', 'url', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { repository, endpoints } of endpointSource() ?? []) {
          for (const endpoint of endpoints) {
            for (const state of ENDPOINT_STATES) {
              this.set({ upstream: repository, url: endpoint.url, state }, endpoint.state === state ? 1 : 0);
            }
          }
        }
      },
    });
    this.#upstreamInfo = gauge('regctl_upstream_info', 'Always 1: the remote URL of each upstream', [
      'upstream',
      'url',
    ]);
    this.#memberHits = counter('regctl_group_member_hits_total', 'Reads through a group, by the member that answered', [
      'group',
      'member',
    ]);
    this.#authFailures = counter(
      'regctl_auth_failures_total',
      'Requests refused by authentication or authorisation, by reason',
      ['reason'],
    );
    this.#reloads = counter('regctl_reloads_total', 'Reload attempts by outcome: applied, unchanged, failed', [
      'outcome',
    ]);
    this.#reloadDuration = new Histogram({
      name: 'regctl_reload_duration_seconds',
      help: 'Time of each reload attempt, from trigger to the new plan serving (or the failure)',
      buckets: RELOAD_BUCKETS,
      registers,
    });
    this.#planInfo = gauge('regctl_plan_info', 'Always 1: the serving plan id and the git revision of its config', [
      'plan_id',
      'revision',
    ]);
    this.#inSync = new Gauge({
      name: 'regctl_config_in_sync',
      help: '1 when the serving plan is what the config on disk compiles to, 0 after a failed reload',
      registers,
    });
    this.#notificationsSent = counter('regctl_notifications_sent_total', 'Events delivered to each webhook endpoint', [
      'endpoint',
    ]);
    this.#notificationFailures = counter(
      'regctl_notifications_failed_attempts_total',
      'Delivery attempts that failed (error, timeout or non-2xx), per endpoint; the batch is retried',
      ['endpoint'],
    );
    this.#notificationsDropped = counter(
      'regctl_notifications_dropped_total',
      'Events dropped, per endpoint and reason: queue_full, attempts_exhausted, shutdown, removed',
      ['endpoint', 'reason'],
    );
    this.#notificationQueue = gauge('regctl_notifications_queue_length', 'Events waiting for each endpoint', [
      'endpoint',
    ]);
    this.#auditLines = new Counter({ name: 'regctl_audit_lines_total', help: 'Audit lines written', registers });
    this.#auditErrors = new Counter({
      name: 'regctl_audit_write_errors_total',
      help: 'Audit lines that could not be written',
      registers,
    });
  }

  /**
   * Where `regctl_upstream_endpoint_state` reads each proxy's endpoints at scrape time (serve
   * passes the serving state's); without it the gauge has no series.
   */
  watchEndpoints(source: () => readonly ProxyEndpointStates[]): void {
    this.#endpointSource = source;
  }

  /** Whether the serving plan has metrics on. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Adopts `plan`: recording on or off, the label sets bounded by its repositories (series of
   * removed ones dropped), the info of its upstreams. Call at startup and after each swap.
   */
  applyPlan(plan: Plan, info: { revision?: string } = {}): void {
    this.#enabled = plan.metrics !== undefined;
    if (this.#enabled && !this.#defaults) {
      this.#defaults = true;
      collectDefaultMetrics({ register: this.registry });
    }
    const names = new Set(Object.keys(plan.repositories));
    this.#repositories = names;
    this.#http.prune(names);
    this.#uploads.prune(0, names);
    for (const series of [this.#cache, this.#revalidations, this.#coalesced, this.#resumes]) series.prune(0, names);
    const proxies = new Set(Object.values(plan.repositories).flatMap((r) => (r.type === 'proxy' ? [r.name] : [])));
    for (const series of [
      this.#upstreamRequests,
      this.#upstreamDuration,
      this.#upstreamBytes,
      this.#upstreamErrors,
      this.#rateLimitRemaining,
      this.#rateLimitLimit,
      this.#rateLimitWindow,
    ])
      series.prune(0, proxies);
    this.#upstreamInfo.clear();
    if (this.#enabled) {
      for (const repository of Object.values(plan.repositories)) {
        if (repository.type === 'proxy') this.#upstreamInfo.get(repository.name, repository.remote.url).set(1);
      }
    }
    this.#memberHits.prune(0, names);
    this.#memberHits.prune(1, names);
    const endpoints = new Set((plan.notifications ?? []).map((n) => n.name));
    for (const series of [
      this.#notificationsSent,
      this.#notificationFailures,
      this.#notificationsDropped,
      this.#notificationQueue,
    ])
      series.prune(0, endpoints);
    this.storage.applyPlan(plan, this.#enabled);
    this.planRevision(plan.id, info.revision ?? '');
  }

  /**
   * `regctl_plan_info` names the serving plan and `revision`: at each swap, and after a reload that
   * found the plan unchanged while the config's revision moved (a commit, or edits that compile to
   * the same plan), as `/-/status` then says.
   */
  planRevision(planId: string, revision: string): void {
    this.#planInfo.clear();
    if (this.#enabled) this.#planInfo.get(planId, revision).set(1);
  }

  /** `name` when the serving plan has that repository, else `''` (a request of a replaced plan). */
  #repository(name: string | undefined): string {
    return name !== undefined && this.#repositories.has(name) ? name : '';
  }

  /** One answered HTTP request (the app's `onResponse`). */
  httpRequest(sample: HttpRequestSample): void {
    if (!this.#enabled) return;
    this.#http.record(
      this.#repository(sample.repository),
      KNOWN_METHODS.has(sample.method) ? sample.method : 'other',
      sample,
    );
  }

  /** An upload body starts arriving; call the returned function once when it ends. */
  uploadStarted(repository: string): () => void {
    if (!this.#enabled) return NOTHING;
    const gauge = this.#uploads.get(this.#repository(repository));
    gauge.inc();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      gauge.dec();
    };
  }

  authFailure(reason: AuthFailureReason): void {
    if (this.#enabled) this.#authFailures.get(reason).inc();
  }

  reload(outcome: 'applied' | 'unchanged' | 'failed', seconds: number, inSync: boolean): void {
    if (!this.#enabled) return;
    this.#reloads.get(outcome).inc();
    this.#reloadDuration.observe(seconds);
    this.#inSync.set(inSync ? 1 : 0);
  }

  notification(endpoint: string, what: 'sent' | 'failed', count = 1): void {
    if (!this.#enabled) return;
    (what === 'sent' ? this.#notificationsSent : this.#notificationFailures).get(endpoint).inc(count);
  }

  notificationsDropped(endpoint: string, reason: string, count: number): void {
    if (this.#enabled) this.#notificationsDropped.get(endpoint, reason).inc(count);
  }

  notificationQueue(endpoint: string, length: number): void {
    if (this.#enabled) this.#notificationQueue.get(endpoint).set(length);
  }

  auditLine(ok: boolean): void {
    if (this.#enabled) (ok ? this.#auditLines : this.#auditErrors).inc();
  }

  /** The observer of proxy `repository` (and of its upstream, authenticated as `credential`). */
  proxy(repository: string, credential: string): ProxyObserver {
    const upstream: UpstreamObserver = {
      request: (method, status, seconds) => {
        if (!this.#enabled || !this.#repositories.has(repository)) return;
        this.#upstreamRequests.get(repository, method, String(status)).inc();
        this.#upstreamDuration.get(repository, method).observe(seconds);
      },
      error: (kind) => {
        if (this.#enabled && this.#repositories.has(repository)) this.#upstreamErrors.get(repository, kind).inc();
      },
      bytes: (kind, count) => {
        if (this.#enabled && this.#repositories.has(repository)) this.#upstreamBytes.get(repository, kind).inc(count);
      },
      rateLimit: (limit, remaining, windowSeconds) => {
        if (!this.#enabled || !this.#repositories.has(repository)) return;
        if (remaining !== undefined) this.#rateLimitRemaining.get(repository, credential).set(remaining);
        if (limit !== undefined) this.#rateLimitLimit.get(repository, credential).set(limit);
        if (windowSeconds !== undefined) this.#rateLimitWindow.get(repository, credential).set(windowSeconds);
      },
    };
    return {
      upstream,
      cache: (kind, result: CacheResult) => {
        if (this.#enabled) this.#cache.get(this.#repository(repository), kind, result).inc();
      },
      revalidation: (result) => {
        if (this.#enabled) this.#revalidations.get(this.#repository(repository), result).inc();
      },
      coalesced: (kind) => {
        if (this.#enabled) this.#coalesced.get(this.#repository(repository), kind).inc();
      },
      resumed: (how) => {
        if (this.#enabled) this.#resumes.get(this.#repository(repository), how).inc();
      },
    };
  }

  group(group: string): GroupObserver {
    return {
      memberHit: (member) => {
        if (this.#enabled && this.#repositories.has(group)) this.#memberHits.get(group, member).inc();
      },
    };
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
