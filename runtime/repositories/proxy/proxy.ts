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
 * - An uncached blob is streamed through (see stream-through.ts). Concurrent requests for the same
 *   blob or manifest share one upstream fetch ({@link SingleFlight}): the first request streams
 *   from the upstream; later ones wait until the blob is committed and read it from the store
 *   (simple and always consistent; they pay the download time, not a second download).
 * - Nothing ever goes upstream: it is a `ReadableRepository` only, with no write methods; the HTTP
 *   layer refuses pushes and deletes to it with `UNSUPPORTED` (`readOnlyRefusal` in repository.ts).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson, type ProxyRepositoryPlan, type SecretRef } from '../../../compiler/plan.ts';
import { type CacheResult, NO_PROXY_OBSERVER, type ProxyObserver, type RepositoryObservers } from '../../events.ts';
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import type { ResourceScope } from '../../resources.ts';
import { readSecretOrLiteral, resolveSecret } from '../../secrets.ts';
import type { BlobInfo, BlobStore, ByteRange, Digest } from '../../storage/blob-store.ts';
import { isStorageError } from '../../storage/errors.ts';
import { UpstreamClient, type UpstreamHealth } from '../../upstream/client.ts';
import { isUpstreamError, isUpstreamUnavailable } from '../../upstream/errors.ts';
import { SingleFlight } from '../../upstream/single-flight.ts';
import { ContentCache } from '../content-cache.ts';
import { PullTimes } from '../pull-times.ts';
import type { BlobResponse, Descriptor, Manifest, ReadableRepository } from '../repository.ts';
import { NegativeCache, ProxyCache } from './cache-records.ts';
import { blobUnknown, translateProxyError } from './failures.ts';
import { fetchManifest, type ManifestFetch } from './freshness.ts';
import { streamThrough } from './stream-through.ts';

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

/** How one blob request was answered, set once by the path that decided it. */
interface BlobSeen {
  result: CacheResult | undefined;
  coalesced: boolean;
}

/** The `credential` label of a proxy's upstream: the user name as configured, never a secret value. */
export function credentialLabel(plan: ProxyRepositoryPlan): string {
  const username = plan.remote.auth?.username;
  if (username === undefined) return 'anonymous';
  return typeof username === 'string' ? username : `env:${username.env}`;
}

/** Creates the proxy repository of `plan`, caching into `deps.store`. */
export function createProxyRepository(plan: ProxyRepositoryPlan, deps: ProxyRepositoryDeps): ProxyRepository {
  return new ProxyRepository(plan, deps);
}

/**
 * What a proxy keeps across reloads while its remote is unchanged: the upstream client (pools,
 * token cache), the negative cache and the single-flight tables, so a fetch started before a
 * reload is joined by requests after it. Joiners always re-read their own store after the flight,
 * so sharing a flight with an instance on another blob store costs at most a second fetch.
 */
interface ProxyUpstream {
  readonly client: UpstreamClient;
  readonly negative: NegativeCache;
  readonly manifestFlights: SingleFlight<ManifestFetch>;
  readonly blobFlights: SingleFlight<BlobInfo>;
}

/**
 * The identity of everything the upstream client is built from (reuse across reloads iff equal),
 * as a SHA-256 of it: the pool's key never holds the resolved credentials themselves.
 */
function clientIdentity(plan: ProxyRepositoryPlan, env: NodeJS.ProcessEnv): string {
  const secret = (ref: SecretRef | string | undefined) =>
    ref === undefined ? null : (readSecretOrLiteral(ref, env) ?? null);
  const identity = canonicalJson({
    remote: plan.remote,
    httpProxy: plan.httpProxy,
    username: secret(plan.remote.auth?.username),
    password: secret(plan.remote.auth?.password),
    proxyPassword: secret(plan.httpProxy?.auth?.password),
    negativeCacheTtlMs: plan.negativeCacheTtlMs,
  });
  return createHash('sha256').update(identity).digest('hex');
}

function createProxyUpstream(
  plan: ProxyRepositoryPlan,
  deps: ProxyRepositoryDeps,
  observer: ProxyObserver,
): ProxyUpstream {
  const auth = plan.remote.auth;
  const client = new UpstreamClient({
    url: plan.remote.url,
    credentials:
      auth === null
        ? null
        : {
            username: resolveSecret(auth.username, deps.env, `repository ${plan.name} remote.auth.username`),
            password: resolveSecret(auth.password, deps.env, `repository ${plan.name} remote.auth.password`),
          },
    timeoutMs: plan.remote.timeoutMs,
    httpProxy: plan.httpProxy,
    proxyPassword:
      plan.httpProxy?.auth == null
        ? undefined
        : resolveSecret(plan.httpProxy.auth.password, deps.env, `repository ${plan.name} httpProxy.auth.password`),
    log: deps.log,
    dispatcher: deps.dispatcher,
    observer: observer.upstream,
  });
  return {
    client,
    negative: new NegativeCache(plan.negativeCacheTtlMs, { now: deps.now ?? Date.now }),
    manifestFlights: new SingleFlight<ManifestFetch>(),
    blobFlights: new SingleFlight<BlobInfo>(),
  };
}

/** A proxy repository; see the module comment. */
export class ProxyRepository implements ReadableRepository {
  readonly name: string;
  readonly plan: ProxyRepositoryPlan;
  readonly #store: BlobStore;
  readonly #log: FastifyBaseLogger;
  readonly #cache: ProxyCache;
  readonly #client: UpstreamClient;
  readonly #negative: NegativeCache;
  readonly #manifestFlights: SingleFlight<ManifestFetch>;
  readonly #blobFlights: SingleFlight<BlobInfo>;
  readonly #observer: ProxyObserver;
  /** The upstream when this instance owns it (no lease): closed by {@link close}. */
  readonly #owned: ProxyUpstream | undefined;
  /** Sizes of cached blobs by digest (immutable), as in hosted repositories: a warm GET costs no stat. */
  readonly #sizes = new ContentCache({ bodyBytes: 0 });
  readonly #now: () => number;
  /** Last-pull times of cached content, for a size-bounded cache's eviction order. */
  readonly #pulls: PullTimes;
  #cachedBytes = 0;

  constructor(plan: ProxyRepositoryPlan, deps: ProxyRepositoryDeps) {
    this.name = plan.name;
    this.plan = plan;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#cache = new ProxyCache(deps.store, plan.name, this.#now);
    this.#pulls = new PullTimes(deps.store, { log: deps.log, now: this.#now });
    this.#observer = deps.observers?.proxy(plan.name, credentialLabel(plan)) ?? NO_PROXY_OBSERVER;
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
    this.#blobFlights = upstream.blobFlights;
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
    return this.#cachedBytes;
  }

  /** The upstream's health as last seen, for `/-/status` (shared by every instance on the same upstream). */
  get upstreamHealth(): Readonly<UpstreamHealth> {
    return this.#client.health;
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

  async statBlob(image: string, digest: Digest): Promise<BlobInfo> {
    this.#ensureOnline();
    return this.#observed((seen) => this.#statBlob(image, digest, seen));
  }

  /** Runs one client request's blob lookup and counts how the cache answered it, once. */
  async #observed<T>(work: (seen: BlobSeen) => Promise<T>): Promise<T> {
    const seen: BlobSeen = { result: undefined, coalesced: false };
    try {
      return await work(seen);
    } finally {
      this.#observer.cache('blob', seen.result ?? 'miss');
    }
  }

  /** A joined fetch: counted as coalesced (once per request) and as a miss. */
  #join(seen: BlobSeen): void {
    seen.result ??= 'miss';
    if (seen.coalesced) return;
    seen.coalesced = true;
    this.#observer.coalesced('blob');
  }

  async #statBlob(image: string, digest: Digest, seen: BlobSeen): Promise<BlobInfo> {
    const name = this.upstreamName(image);
    const cached = await this.#cachedBlob(name, digest);
    if (cached !== undefined) {
      seen.result ??= 'hit';
      return cached;
    }
    const notFound = blobUnknown(image, digest);
    const inflight = this.#blobFlights.get(digest);
    if (inflight !== undefined) {
      // Once it is stored, ask again: linked for this image, or confirmed upstream by a HEAD.
      this.#join(seen);
      await this.#joined(inflight, notFound);
      return this.#statBlob(image, digest, seen);
    }
    if (this.plan.offline) throw notFound;
    if (this.#negative.has(`b:${name}@${digest}`)) {
      seen.result ??= 'negative';
      throw notFound;
    }
    seen.result ??= 'miss';
    try {
      const { size } = await this.#client.headBlob(name, digest);
      if ((await this.#storeStat(digest)) !== undefined) await this.#cache.linkBlob(name, digest);
      return { digest, size };
    } catch (error) {
      if (isUpstreamError(error, 'UPSTREAM_NOT_FOUND')) this.#negative.add(`b:${name}@${digest}`);
      throw this.#translate(error, notFound);
    }
  }

  async getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    this.#ensureOnline();
    const response = await this.#observed((seen) => this.#getBlob(image, digest, range, true, seen));
    this.#pulls.note(this.#cache.pulledKey(digest));
    return response;
  }

  /** `retry`: a waiter whose shared fetch failed (the leader's body was cut or wrong) tries once more itself. */
  async #getBlob(
    image: string,
    digest: Digest,
    range: ByteRange | undefined,
    retry: boolean,
    seen: BlobSeen,
  ): Promise<BlobResponse> {
    const name = this.upstreamName(image);
    const cached = await this.#cachedBlob(name, digest);
    if (cached !== undefined) {
      const served = await this.#fromStore(cached, range, true);
      if (served !== undefined) {
        seen.result ??= 'hit';
        return served;
      }
    }
    const notFound = blobUnknown(image, digest);
    if (this.plan.offline) throw notFound;
    const inflight = this.#blobFlights.get(digest);
    if (inflight === undefined && this.#negative.has(`b:${name}@${digest}`)) {
      seen.result ??= 'negative';
      throw notFound;
    }
    if (inflight === undefined && (await this.#storeStat(digest)) !== undefined) {
      // Cached for another image: the upstream decides whether this image has it (HEAD, no body).
      const info = await this.#statBlob(image, digest, seen);
      const served = await this.#fromStore(info, range, true);
      if (served !== undefined) return served;
      // Gone behind the size cache (evicted or collected meanwhile): fetched again below.
    }

    let leader: { client: Readable; size: number } | undefined;
    let announce: (() => void) | undefined;
    const started = new Promise<void>((resolve) => {
      announce = resolve;
    });
    const { promise, joined } = this.#blobFlights.run(digest, async () => {
      const upstream = await this.#client.getBlob(name, digest);
      // No length to announce, or only a range wanted: fill the cache, then serve from it.
      const toClient = upstream.size !== undefined && range === undefined;
      const tee = streamThrough({
        source: upstream.body,
        digest,
        size: upstream.size,
        store: this.#store,
        client: toClient,
        onBytes: (count) => this.#client.blobBytes(count),
      });
      if (toClient) {
        tee.client.on('error', () => {}); // reported through `done` and the HTTP layer
        leader = { client: tee.client, size: upstream.size! };
        announce?.();
      }
      const info = await tee.done;
      this.#cachedBytes += info.size;
      this.#sizes.setSize(digest, info.size);
      await this.#cache.linkBlob(name, digest);
      this.#negative.delete(`b:${name}@${digest}`);
      return info;
    });
    promise.catch((error: unknown) => {
      if (isUpstreamError(error, 'UPSTREAM_NOT_FOUND')) this.#negative.add(`b:${name}@${digest}`);
      else if (!joined) this.#log.warn({ err: error, image, digest }, 'proxy blob fetch failed; nothing cached');
    });
    if (joined) {
      this.#join(seen);
      // Once it is stored, ask again: linked for this image, or confirmed upstream by a HEAD.
      try {
        await this.#joined(promise, notFound);
      } catch (error) {
        if (retry && isRegistryError(error) && error.code === 'UNAVAILABLE') {
          return this.#getBlob(image, digest, range, false, seen);
        }
        throw error;
      }
      return this.#getBlob(image, digest, range, false, seen);
    }
    seen.result ??= 'miss';
    try {
      await Promise.race([started, promise]);
    } catch (error) {
      throw this.#translate(error, notFound);
    }
    if (leader !== undefined) {
      return { info: { digest, size: leader.size }, body: { stream: leader.client } };
    }
    return this.#fromStore(await promise, range);
  }

  /** Waits for another request's fetch of the blob; its failure as this request's error. */
  async #joined(flight: Promise<BlobInfo>, notFound: RegistryError): Promise<void> {
    try {
      await flight;
    } catch (error) {
      throw this.#translate(error, notFound);
    }
  }

  /**
   * The stored blob as a response. `missingOk`: when the bytes are gone although the size was
   * known (removed behind this replica's back), forget the size and answer undefined, so the
   * caller fetches the blob again instead of failing.
   */
  async #fromStore(info: BlobInfo, range: ByteRange | undefined): Promise<BlobResponse>;
  async #fromStore(info: BlobInfo, range: ByteRange | undefined, missingOk: true): Promise<BlobResponse | undefined>;
  async #fromStore(info: BlobInfo, range: ByteRange | undefined, missingOk = false): Promise<BlobResponse | undefined> {
    try {
      if (range === undefined && this.#store.redirectUrl !== undefined) {
        const redirect = await this.#store.redirectUrl(info.digest);
        if (redirect !== undefined) return { info, body: { redirect } };
      }
      return { info, body: { stream: await this.#store.read(info.digest, range) } };
    } catch (error) {
      if (isStorageError(error, 'STORAGE_NOT_FOUND')) this.#sizes.forget(info.digest);
      if (missingOk && isStorageError(error, 'STORAGE_NOT_FOUND')) return undefined;
      throw this.#translate(error, blobUnknown('', info.digest));
    }
  }

  /** The blob when cached and linked in `name` (the link is read every time; the size is cached). */
  async #cachedBlob(name: string, digest: Digest): Promise<BlobInfo | undefined> {
    try {
      if (!(await this.#cache.isBlobLinked(name, digest))) return undefined;
      return await this.#storeStat(digest);
    } catch (error) {
      throw this.#translate(error, blobUnknown(name, digest));
    }
  }

  async #storeStat(digest: Digest): Promise<BlobInfo | undefined> {
    const size = this.#sizes.size(digest);
    if (size !== undefined) return { digest, size };
    try {
      const info = await this.#store.stat(digest);
      if (info !== undefined) this.#sizes.setSize(digest, info.size);
      return info;
    } catch (error) {
      throw this.#translate(error, blobUnknown('', digest));
    }
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
