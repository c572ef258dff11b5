/**
 * The blob path of a proxy repository (proxy.ts): a blob is served from the store while it is
 * linked for the image; otherwise a HEAD upstream confirms a blob cached for another image, and an
 * uncached blob is streamed through to the client and the store at once (stream-through.ts).
 * Concurrent requests for one uncached blob share one upstream fetch: the first streams it, the
 * others wait until it is committed and read it from the store; a waiter whose shared fetch
 * failed tries once more itself. A dropped upstream connection is resumed from the byte reached
 * (upstream/blob-resume.ts, spliced in stream-through.ts), unseen by the client and the waiters. Each client request is counted once by how the cache answered.
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyRepositoryPlan } from '../../../compiler/plan.ts';
import type { CacheResult, ProxyObserver } from '../../events.ts';
import { isRegistryError, type RegistryError } from '../../oci/errors.ts';
import type { BlobInfo, BlobStore, ByteRange, Digest } from '../../storage/blob-store.ts';
import { isStorageError } from '../../storage/errors.ts';
import { BlobResumer } from '../../upstream/blob-resume.ts';
import type { UpstreamEndpoints } from '../../upstream/endpoints.ts';
import { isUpstreamError } from '../../upstream/errors.ts';
import type { SingleFlight } from '../../upstream/single-flight.ts';
import { ContentCache } from '../content-cache.ts';
import type { BlobResponse } from '../repository.ts';
import type { NegativeCache, ProxyCache } from './cache-records.ts';
import { blobUnknown } from './failures.ts';
import { streamThrough } from './stream-through.ts';

/** What the blob path shares with its repository. */
export interface ProxyBlobPathDeps {
  readonly plan: ProxyRepositoryPlan;
  readonly store: BlobStore;
  readonly cache: ProxyCache;
  readonly client: UpstreamEndpoints;
  readonly negative: NegativeCache;
  readonly flights: SingleFlight<BlobInfo>;
  readonly observer: ProxyObserver;
  readonly log: FastifyBaseLogger;
  /** The name upstream and in the cache of a client's image name. */
  readonly upstreamName: (image: string) => string;
  /** Upstream and storage failures as the registry error the client gets. */
  readonly translate: (error: unknown, notFound: RegistryError) => RegistryError;
}

/** How one blob request was answered, set once by the path that decided it. */
interface BlobSeen {
  result: CacheResult | undefined;
  coalesced: boolean;
}

export class ProxyBlobPath {
  readonly #deps: ProxyBlobPathDeps;
  readonly #plan: ProxyRepositoryPlan;
  readonly #store: BlobStore;
  readonly #cache: ProxyCache;
  readonly #client: UpstreamEndpoints;
  readonly #negative: NegativeCache;
  readonly #blobFlights: SingleFlight<BlobInfo>;
  readonly #observer: ProxyObserver;
  readonly #log: FastifyBaseLogger;
  /** Sizes of cached blobs by digest (immutable), as in hosted repositories: a warm GET costs no stat. */
  readonly #sizes = new ContentCache({ bodyBytes: 0 });
  #cachedBytes = 0;

  constructor(deps: ProxyBlobPathDeps) {
    this.#deps = deps;
    this.#plan = deps.plan;
    this.#store = deps.store;
    this.#cache = deps.cache;
    this.#client = deps.client;
    this.#negative = deps.negative;
    this.#blobFlights = deps.flights;
    this.#observer = deps.observer;
    this.#log = deps.log;
  }

  /** Bytes of blobs fetched into the cache through this path (only grows). */
  get cachedBytes(): number {
    return this.#cachedBytes;
  }

  #upstreamName(image: string): string {
    return this.#deps.upstreamName(image);
  }

  /** A blob's size: from the cache when linked for `image`, else from the upstream (HEAD). */
  stat(image: string, digest: Digest): Promise<BlobInfo> {
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
    const name = this.#upstreamName(image);
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
    if (this.#plan.offline) throw notFound;
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
      throw this.#deps.translate(error, notFound);
    }
  }

  /** A blob's body: from the cache, or streamed through from the upstream into the cache. */
  get(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    return this.#observed((seen) => this.#getBlob(image, digest, range, true, seen));
  }

  /** `retry`: a waiter whose shared fetch failed (the leader's body was cut or wrong) tries once more itself. */
  async #getBlob(
    image: string,
    digest: Digest,
    range: ByteRange | undefined,
    retry: boolean,
    seen: BlobSeen,
  ): Promise<BlobResponse> {
    const name = this.#upstreamName(image);
    const cached = await this.#cachedBlob(name, digest);
    if (cached !== undefined) {
      const served = await this.#fromStore(cached, range, true);
      if (served !== undefined) {
        seen.result ??= 'hit';
        return served;
      }
    }
    const notFound = blobUnknown(image, digest);
    if (this.#plan.offline) throw notFound;
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
      const resumer = new BlobResumer({
        what: `blob ${name}@${digest}`,
        first: upstream.response.headers,
        size: upstream.size,
        request: async (headers) => (await upstream.resume(headers)).response,
      });
      const tee = streamThrough({
        source: upstream.body,
        digest,
        size: upstream.size,
        store: this.#store,
        client: toClient,
        onBytes: (count) => this.#client.blobBytes(count),
        resume: (from) => resumer.resume(from),
        onResume: (from, start) => {
          this.#observer.resumed(start === from ? 'continued' : 'restarted');
          this.#log.info(
            { image, digest, from, start, resume: resumer.resumes },
            start === from
              ? 'proxy blob fetch resumed after a dropped upstream connection'
              : 'proxy blob fetch restarted (the upstream answered the resume whole); re-reading to the byte reached',
          );
        },
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
      throw this.#deps.translate(error, notFound);
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
      throw this.#deps.translate(error, notFound);
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
      throw this.#deps.translate(error, blobUnknown('', info.digest));
    }
  }

  /** The blob when cached and linked in `name` (the link is read every time; the size is cached). */
  async #cachedBlob(name: string, digest: Digest): Promise<BlobInfo | undefined> {
    try {
      if (!(await this.#cache.isBlobLinked(name, digest))) return undefined;
      return await this.#storeStat(digest);
    } catch (error) {
      throw this.#deps.translate(error, blobUnknown(name, digest));
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
      throw this.#deps.translate(error, blobUnknown('', digest));
    }
  }
}
