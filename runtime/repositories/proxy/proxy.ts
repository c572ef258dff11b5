/**
 * ProxyRepository: reads through to an upstream registry and caches what it serves into its blob
 * store (records laid out by {@link ProxyCache}).
 *
 * - Digests are immutable: a manifest by digest or a blob, once cached, is served from the store
 *   for ever. A tag is served from the cache while younger than `metadataMaxAgeMs`; after that it is
 *   revalidated with a HEAD (free of Docker Hub pull quota) and re-downloaded only if it moved.
 * - Upstream 404s are remembered for `negativeCacheTtlMs` (in memory, per replica).
 * - When the upstream is unreachable, times out, fails or rate-limits, a cached copy is served
 *   stale with a warning; only when nothing is cached does the client get `UNAVAILABLE` (503) or
 *   `TOOMANYREQUESTS` (429, with the upstream's Retry-After). `offline` serves the cache only.
 * - Blobs: blob-path.ts. An uncached blob is streamed through (see stream-through.ts). Concurrent requests for the same
 *   blob or manifest share one upstream fetch ({@link SingleFlight}): the first request streams
 *   from the upstream; later ones wait until the blob is committed and read it from the store
 *   (simple and always consistent; they pay the download time, not a second download).
 * - The upstream side (client, negative cache, single-flight tables) is shared across reloads
 *   while the remote is unchanged (upstream.ts).
 * - Nothing ever goes upstream: it is a `ReadableRepository` only, with no write methods; the HTTP
 *   layer refuses pushes and deletes to it with `UNSUPPORTED` (`readOnlyRefusal` in repository.ts).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyRepositoryPlan } from '../../../compiler/plan.ts';
import { type CacheResult, NO_PROXY_OBSERVER, type ProxyObserver, type RepositoryObservers } from '../../events.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { ResourceScope } from '../../resources.ts';
import type { BlobInfo, BlobStore, ByteRange, Digest } from '../../storage/blob-store.ts';
import type { UpstreamHealth } from '../../upstream/client.ts';
import type { EndpointHealth, UpstreamEndpoints } from '../../upstream/endpoints.ts';
import { isUpstreamUnavailable } from '../../upstream/errors.ts';
import type { SingleFlight } from '../../upstream/single-flight.ts';
import { PullTimes } from '../pull-times.ts';
import type { BlobResponse, Descriptor, Manifest, ReadableRepository, StoredContent } from '../repository.ts';
import { proxyStoredContent } from '../stored-content.ts';
import { ProxyBlobPath } from './blob-path.ts';
import { type NegativeCache, ProxyCache } from './cache-records.ts';
import { translateProxyError } from './failures.ts';
import { fetchManifest, type ManifestFetch } from './freshness.ts';
import { clientIdentity, createProxyUpstream, credentialLabel, type ProxyUpstream } from './upstream.ts';

/** What a proxy repository needs besides its plan. */
export interface ProxyRepositoryDeps {
  readonly store: BlobStore;
  readonly env: NodeJS.ProcessEnv;
  readonly log: FastifyBaseLogger;
  /**
   * The state's leases (see runtime/resources.ts): the upstream — client, pools, tokens, negative
   * cache, single-flight tables — is leased under its {@link clientIdentity}, so a reload that
   * leaves the remote unchanged keeps it, and disposing the old state never closes it under the new
   * one. Without it (unit tests) the repository owns its upstream and closes it in `close()`.
   */
  readonly resources?: ResourceScope;
  /** Replaces the upstream pools (tests pass an undici `MockAgent`). */
  readonly dispatcher?: import('undici').Dispatcher;
  readonly now?: () => number;
  /** Where cache results, coalescing and upstream traffic are reported (metrics); default: nowhere. */
  readonly observers?: RepositoryObservers;
}

/** Creates the proxy repository of `plan`, caching into `deps.store`. */
export function createProxyRepository(plan: ProxyRepositoryPlan, deps: ProxyRepositoryDeps): ProxyRepository {
  return new ProxyRepository(plan, deps);
}

/** A proxy repository; see the module comment. */
export class ProxyRepository implements ReadableRepository {
  readonly name: string;
  readonly plan: ProxyRepositoryPlan;
  readonly stored: StoredContent;
  readonly #store: BlobStore;
  readonly #log: FastifyBaseLogger;
  readonly #cache: ProxyCache;
  readonly #client: UpstreamEndpoints;
  readonly #negative: NegativeCache;
  readonly #manifestFlights: SingleFlight<ManifestFetch>;
  readonly #blobs: ProxyBlobPath;
  readonly #observer: ProxyObserver;
  /** The upstream when this instance owns it (no lease): closed by {@link close}. */
  readonly #owned: ProxyUpstream | undefined;
  readonly #now: () => number;
  /** Last-pull times of cached content, for a size-bounded cache's eviction order. */
  readonly #pulls: PullTimes;
  /** How the cache answered since this instance was built (this plan), by result. */
  readonly #cacheResults: Record<CacheResult, number> = { hit: 0, miss: 0, stale: 0, negative: 0 };

  constructor(plan: ProxyRepositoryPlan, deps: ProxyRepositoryDeps) {
    this.name = plan.name;
    this.plan = plan;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#cache = new ProxyCache(deps.store, plan.name, this.#now);
    this.#pulls = new PullTimes(deps.store, { log: deps.log, now: this.#now });
    this.#observer = countCacheResults(
      deps.observers?.proxy(plan.name, credentialLabel(plan)) ?? NO_PROXY_OBSERVER,
      this.#cacheResults,
    );
    this.stored = proxyStoredContent(deps.store, this.#cache, (image) => this.upstreamName(image), this.#pulls);
    const create = () => createProxyUpstream(plan, deps, this.#observer);
    const key = `proxy-upstream:${plan.name}:${clientIdentity(plan, deps.env)}`;
    // An injected dispatcher (tests) is not part of the key, so such an upstream is never shared.
    const lease =
      deps.dispatcher === undefined ? deps.resources?.use(key, create, (shared) => shared.client.close()) : undefined;
    const upstream = lease?.value ?? create();
    this.#owned = lease === undefined ? upstream : undefined;
    this.#client = upstream.client;
    this.#negative = upstream.negative;
    this.#manifestFlights = upstream.manifestFlights;
    this.#blobs = new ProxyBlobPath({
      plan,
      store: deps.store,
      cache: this.#cache,
      client: this.#client,
      negative: this.#negative,
      flights: upstream.blobFlights,
      observer: this.#observer,
      log: deps.log,
      upstreamName: (image) => this.upstreamName(image),
      translate: (error, notFound) => this.#translate(error, notFound),
    });
  }

  /** Closes the upstream pools when this instance owns them; a leased upstream closes with its last lease. */
  async close(): Promise<void> {
    await this.#pulls.close();
    await this.#owned?.client.close();
  }

  /**
   * Bytes of blobs this instance fetched into the cache since it was created (a counter that only
   * grows): a size-bounded cache measures itself again only when it moved (runtime/gc/scheduler.ts).
   */
  get cachedBytes(): number {
    return this.#blobs.cachedBytes;
  }

  /**
   * How the cache answered manifest and blob requests since this instance was built (a reload
   * starts over): hit, miss (fetched upstream), stale (served while the upstream is down),
   * negative (known missing). Counted whether or not metrics are on; the web UI's hit ratio.
   */
  get cacheResults(): Readonly<Record<CacheResult, number>> {
    return this.#cacheResults;
  }

  /** The upstream's health as last seen, for `/-/status` (shared by every instance on the same upstream). */
  get upstreamHealth(): Readonly<UpstreamHealth> {
    return this.#client.health;
  }

  /** Each endpoint's breaker and health, in the order they are tried, for `/-/status`. */
  get endpointHealth(): EndpointHealth[] {
    return this.#client.endpointHealth;
  }

  /** The name upstream and in the cache: Docker Hub's official images live under `library/`. */
  upstreamName(image: string): string {
    return this.plan.remote.index === 'docker-hub' && !image.includes('/') ? `library/${image}` : image;
  }

  #context() {
    return {
      repository: this.name,
      plan: this.plan,
      store: this.#store,
      cache: this.#cache,
      client: this.#client,
      negative: this.#negative,
      flights: this.#manifestFlights,
      observer: this.#observer,
      log: this.#log,
      now: this.#now,
      translate: (error: unknown, notFound: RegistryError) => this.#translate(error, notFound),
    };
  }

  async getManifest(image: string, reference: string): Promise<Manifest> {
    this.#ensureOnline();
    const manifest = await fetchManifest(this.#context(), this.upstreamName(image), reference);
    this.#pulls.note(this.#cache.pulledKey(manifest.digest));
    return manifest;
  }

  /**
   * For the declared prefetch (runtime/prefetch/): the manifest as {@link getManifest} serves it,
   * a tag revalidated when it was checked longer than `maxAgeMs` ago, with how it was answered
   * (`stale`: the upstream was unavailable and the cached copy was kept).
   */
  async prefetchManifest(
    image: string,
    reference: string,
    maxAgeMs: number,
  ): Promise<{ manifest: Manifest; result: CacheResult }> {
    this.#ensureOnline();
    let result: CacheResult = 'miss';
    const manifest = await fetchManifest(this.#context(), this.upstreamName(image), reference, {
      maxAgeMs,
      onResult: (r) => {
        result = r;
      },
    });
    this.#pulls.note(this.#cache.pulledKey(manifest.digest));
    return { manifest, result };
  }

  /**
   * Whether the blob is cached and linked for `image`: no upstream request, no store read beyond a
   * stat, not counted as a cache hit (the prefetch asks before pulling a blob).
   */
  async hasCachedBlob(image: string, digest: Digest): Promise<boolean> {
    const name = this.upstreamName(image);
    if (!(await this.#cache.isBlobLinked(name, digest))) return false;
    return (await this.#store.stat(digest)) !== undefined;
  }

  async statBlob(image: string, digest: Digest): Promise<BlobInfo> {
    this.#ensureOnline();
    return this.#blobs.stat(image, digest);
  }

  async getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    this.#ensureOnline();
    const response = await this.#blobs.get(image, digest, range);
    this.#pulls.note(this.#cache.pulledKey(digest));
    return response;
  }

  async listTags(image: string): Promise<string[]> {
    this.#ensureOnline();
    const name = this.upstreamName(image);
    const cached = async () => [...(await this.#cache.listTags(name))].sort();
    const unknown = new RegistryError('NAME_UNKNOWN', {
      message: `image ${image} is not known to proxy repository ${this.name}`,
      detail: { name: image },
    });
    if (this.plan.offline) {
      const tags = await cached();
      if (tags.length === 0) throw unknown;
      return tags;
    }
    try {
      return await this.#client.listTags(name);
    } catch (error) {
      if (isUpstreamUnavailable(error)) {
        const tags = await cached();
        if (tags.length > 0) {
          this.#log.warn({ err: error, image }, 'upstream unavailable: serving the cached tag list');
          return tags;
        }
      }
      throw this.#translate(error, unknown);
    }
  }

  async listImages(): Promise<string[]> {
    this.#ensureOnline();
    try {
      return await this.#cache.listImages();
    } catch (error) {
      throw this.#translate(error, new RegistryError('NAME_UNKNOWN'));
    }
  }

  async listReferrers(image: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    this.#ensureOnline();
    if (this.plan.offline) return [];
    try {
      const list = (await this.#client.listReferrers(this.upstreamName(image), digest)) as Descriptor[];
      return list.filter(
        (d) =>
          typeof d?.digest === 'string' &&
          typeof d.mediaType === 'string' &&
          (artifactType === undefined || d.artifactType === artifactType),
      );
    } catch (error) {
      this.#log.warn({ err: error, image, digest }, 'upstream referrers unavailable: answering with none');
      return [];
    }
  }

  #ensureOnline(): void {
    if (!this.plan.online) {
      throw new RegistryError('UNAVAILABLE', { message: `repository ${this.name} is offline (online: false)` });
    }
  }

  #translate(error: unknown, notFound: RegistryError): RegistryError {
    return translateProxyError(error, notFound, { repository: this.name, url: this.plan.remote.url, log: this.#log });
  }
}

/** `observer`, with every cache result also counted into `counts`. */
function countCacheResults(observer: ProxyObserver, counts: Record<CacheResult, number>): ProxyObserver {
  return {
    upstream: observer.upstream,
    cache: (kind, result) => {
      counts[result] += 1;
      observer.cache(kind, result);
    },
    revalidation: (result) => observer.revalidation(result),
    coalesced: (kind) => observer.coalesced(kind),
    resumed: (how) => observer.resumed(how),
  };
}
