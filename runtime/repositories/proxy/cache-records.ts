/**
 * What a proxy repository remembers in its blob store, laid out over the BlobStore metadata API
 * under `proxy/<repository>/` (the proxy's own namespace, so a hosted repository sharing the store
 * never sees cached images, and the other way round):
 *
 *   proxy/<repo>/_catalog/<image with / as %2F>               ''  (something of the image is cached)
 *   proxy/<repo>/images/<image…>/_tags/<tag>                  {"digest","mediaType","checkedAt"}
 *   proxy/<repo>/images/<image…>/_manifests/<alg>/<hex>        {"mediaType","size","cachedAt"?}
 *   proxy/<repo>/images/<image…>/_layers/<alg>/<hex>           epoch ms it was cached for the image ('' in older
 *                                                              records): the upstream served this blob for the image
 *   proxy/<repo>/_pulled/<alg>/<hex>                           epoch ms of the last pull of a cached blob or
 *                                                              manifest (batched, coarse: pull-times.ts)
 *
 * Manifest bodies and layers are ordinary blobs of the store, addressed by digest. `checkedAt` is
 * the last time the upstream confirmed (or served) the tag: younger than `metadataMaxAge` means
 * fresh. A layer is served from the cache only when linked in the image, so a client can never
 * read through a proxy a blob that the upstream did not give for that image (the store may be
 * shared with hosted repositories).
 */

import { isDigest } from '../../oci/digest.ts';
import type { BlobStore, Digest } from '../../storage/blob-store.ts';
import { linkTime, listDigestDocs } from '../hosted/metadata.ts';
import { parsePullTime } from '../pull-times.ts';

/** A cached tag. */
export interface CachedTag {
  readonly digest: Digest;
  readonly mediaType: string;
  /** Epoch ms of the last upstream confirmation. */
  readonly checkedAt: number;
}

/** A cached manifest's link record. */
export interface CachedManifestLink {
  readonly mediaType: string;
  readonly size: number;
}

const digestKey = (digest: Digest) => digest.replace(':', '/');

/** A stored JSON document, or undefined when it is missing, torn or of another shape. */
function readDocument<T>(
  raw: Buffer | undefined,
  isShaped: (value: Record<string, unknown>) => boolean,
): T | undefined {
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return typeof value === 'object' && value !== null && isShaped(value as Record<string, unknown>)
      ? (value as T)
      : undefined;
  } catch {
    return undefined;
  }
}

const isCachedTag = (v: Record<string, unknown>) =>
  isDigest(v.digest) && typeof v.mediaType === 'string' && typeof v.checkedAt === 'number';
const isManifestLink = (v: Record<string, unknown>) => typeof v.mediaType === 'string' && typeof v.size === 'number';

/** Typed access to one proxy repository's records in `store`. No state besides the store. */
export class ProxyCache {
  readonly #store: BlobStore;
  readonly #root: string;

  readonly #now: () => number;

  constructor(store: BlobStore, repository: string, now: () => number = Date.now) {
    this.#store = store;
    this.#root = `proxy/${repository}`;
    this.#now = now;
  }

  #image(image: string): string {
    return `${this.#root}/images/${image}`;
  }

  #noteImage(image: string): Promise<void> {
    return this.#store.putMeta(`${this.#root}/_catalog/${image.replaceAll('/', '%2F')}`, '');
  }

  /** The cached tag; a torn or foreign document counts as not cached. */
  async getTag(image: string, tag: string): Promise<CachedTag | undefined> {
    return readDocument(await this.#store.getMeta(`${this.#image(image)}/_tags/${tag}`), isCachedTag);
  }

  async setTag(image: string, tag: string, value: CachedTag): Promise<void> {
    await this.#noteImage(image);
    await this.#store.putMeta(`${this.#image(image)}/_tags/${tag}`, JSON.stringify(value));
  }

  deleteTag(image: string, tag: string): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_tags/${tag}`);
  }

  listTags(image: string): Promise<string[]> {
    return this.#store.listMeta(`${this.#image(image)}/_tags`);
  }

  /** The manifest's link record; a torn or foreign document counts as not cached. */
  async getManifestLink(image: string, digest: Digest): Promise<CachedManifestLink | undefined> {
    return readDocument(
      await this.#store.getMeta(`${this.#image(image)}/_manifests/${digestKey(digest)}`),
      isManifestLink,
    );
  }

  async linkManifest(image: string, digest: Digest, link: CachedManifestLink): Promise<void> {
    await this.#noteImage(image);
    await this.#store.putMeta(
      `${this.#image(image)}/_manifests/${digestKey(digest)}`,
      JSON.stringify({ ...link, cachedAt: this.#now() }),
    );
  }

  async isBlobLinked(image: string, digest: Digest): Promise<boolean> {
    return (await this.#store.getMeta(`${this.#image(image)}/_layers/${digestKey(digest)}`)) !== undefined;
  }

  async linkBlob(image: string, digest: Digest): Promise<void> {
    await this.#noteImage(image);
    await this.#store.putMeta(`${this.#image(image)}/_layers/${digestKey(digest)}`, String(this.#now()));
  }

  async listImages(): Promise<string[]> {
    const names = await this.#store.listMeta(`${this.#root}/_catalog`);
    return names.map((name) => name.replaceAll('%2F', '/')).sort();
  }

  /** The digests of the manifests cached for `image`. */
  async listManifests(image: string): Promise<Digest[]> {
    return (await this.listManifestRecords(image)).map((entry) => entry.digest);
  }

  /** The manifests cached for `image`, with the time each was cached (when recorded). */
  async listManifestRecords(image: string): Promise<{ digest: Digest; cachedAt?: number }[]> {
    return (await listDigestDocs(this.#store, `${this.#image(image)}/_manifests`)).map(({ digest, doc }) => {
      const cachedAt = readDocument<{ cachedAt?: number }>(doc, () => true)?.cachedAt;
      return typeof cachedAt === 'number' ? { digest, cachedAt } : { digest };
    });
  }

  /** The digests of the blobs linked for `image`. */
  async listBlobLinks(image: string): Promise<Digest[]> {
    return (await this.listBlobRecords(image)).map((entry) => entry.digest);
  }

  /** The blobs linked for `image`, with the time each was cached (when recorded). */
  async listBlobRecords(image: string): Promise<{ digest: Digest; cachedAt?: number }[]> {
    return (await listDigestDocs(this.#store, `${this.#image(image)}/_layers`)).map(({ digest, doc }) => {
      const cachedAt = linkTime(doc);
      return cachedAt === undefined ? { digest } : { digest, cachedAt };
    });
  }

  /** The key of a cached blob's or manifest's last-pull time (see the module comment). */
  pulledKey(digest: Digest): string {
    return `${this.#root}/_pulled/${digestKey(digest)}`;
  }

  /** Every recorded last-pull time of this cache, by digest. */
  async listPullTimes(): Promise<Map<Digest, number>> {
    const times = new Map<Digest, number>();
    for (const { digest, doc } of await listDigestDocs(this.#store, this.pulledFolder)) {
      const at = parsePullTime(doc);
      if (at !== undefined) times.set(digest, at);
    }
    return times;
  }

  /** Forgets a cached blob or manifest of `image` (eviction); the bytes are the collector's business. */
  async forget(image: string, digest: Digest): Promise<void> {
    await this.#store.deleteMeta(`${this.#image(image)}/_layers/${digestKey(digest)}`);
    await this.#store.deleteMeta(`${this.#image(image)}/_manifests/${digestKey(digest)}`);
  }

  /** The folder of the last-pull times (see the module comment). */
  get pulledFolder(): string {
    return `${this.#root}/_pulled`;
  }
}

/**
 * Upstream misses remembered in memory for `ttlMs` (per replica: a miss is cheap to rediscover).
 * Bounded: past `max` entries the oldest are dropped.
 */
export class NegativeCache {
  readonly #entries = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(ttlMs: number, options: { max?: number; now?: () => number } = {}) {
    this.#ttlMs = ttlMs;
    this.#max = options.max ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  has(key: string): boolean {
    const expiresAt = this.#entries.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.#now()) return true;
    this.#entries.delete(key);
    return false;
  }

  add(key: string): void {
    if (this.#ttlMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, this.#now() + this.#ttlMs);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
