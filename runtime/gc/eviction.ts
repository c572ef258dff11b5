/**
 * Size-bounded proxy caches (`maxSize:` of a proxy repository): which cached content goes when a
 * cache holds more than its cap. Whole images, least recently used first: an image's last use is
 * the latest pull of any of its blobs or manifests (repositories/pull-times.ts), or the latest
 * time one of them was cached, so a fresh download is never the first to go. A blob two cached
 * images share goes with the last of them. Evicting stops at 90 % of the cap (the low-water
 * mark), so a cache at its cap does not evict on every download.
 *
 * Eviction forgets the proxy's records of the content (every image of the cache that links it);
 * the bytes then go in a garbage-collection pass (collector.ts) like any unreferenced blob, so a
 * blob a hosted repository (or another proxy) on the same store still references stays, a pull
 * streaming it goes on to its end, and a push racing the pass is as safe as ever.
 */
import { ProxyCache } from '../repositories/proxy/cache-records.ts';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import { mapLimit } from './limit.ts';

/** Eviction stops once the cache is at this share of its cap. */
export const LOW_WATER = 0.9;

/** What a cache holds, and what to evict from it. */
export interface EvictionPlan {
  readonly repository: string;
  /** Bytes of the distinct blobs and manifests the cache links (present in the store). */
  readonly usedBytes: number;
  readonly maxSizeBytes: number;
  /** image → digests to forget; empty when under the cap. */
  readonly evict: Map<string, Digest[]>;
  /** Bytes and blobs the evicted images alone hold (what leaves the cache). */
  readonly evictBytes: number;
  readonly evictCount: number;
}

/**
 * Measures proxy `repository` in `store` and picks what to evict to get from over `maxSizeBytes`
 * down to {@link LOW_WATER} of it. `sizes` caches blob sizes across calls (they never change).
 */
export async function planEviction(
  store: BlobStore,
  repository: string,
  maxSizeBytes: number,
  sizes: Map<Digest, number> = new Map(),
): Promise<EvictionPlan> {
  const cache = new ProxyCache(store, repository);
  const holders = new Map<Digest, { images: Set<string>; cachedAt: number }>();
  const images = await cache.listImages();
  await mapLimit(images, 4, async (image) => {
    const [blobs, manifests] = await Promise.all([cache.listBlobRecords(image), cache.listManifestRecords(image)]);
    for (const record of [...blobs, ...manifests]) {
      const entry = holders.get(record.digest) ?? { images: new Set<string>(), cachedAt: 0 };
      entry.images.add(image);
      entry.cachedAt = Math.max(entry.cachedAt, record.cachedAt ?? 0);
      holders.set(record.digest, entry);
    }
  });
  const digests = [...holders.keys()];
  await mapLimit(digests, 16, async (digest) => {
    if (sizes.has(digest)) return;
    const info = await store.stat(digest);
    if (info !== undefined) sizes.set(digest, info.size);
  });
  let usedBytes = 0;
  for (const digest of digests) usedBytes += sizes.get(digest) ?? 0;
  const evict = new Map<string, Digest[]>();
  let evictBytes = 0;
  let evictCount = 0;
  if (usedBytes > maxSizeBytes) {
    // An image is used when any of its content is; images go whole, oldest use first. A blob
    // two images share leaves only with the last of them.
    const pulled = await cache.listPullTimes();
    const lastUse = (digest: Digest) => Math.max(pulled.get(digest) ?? 0, holders.get(digest)?.cachedAt ?? 0);
    const contents = new Map<string, Digest[]>();
    for (const [digest, entry] of holders) {
      for (const image of entry.images) contents.set(image, [...(contents.get(image) ?? []), digest]);
    }
    const imageUse = (image: string) => Math.max(0, ...(contents.get(image) ?? []).map(lastUse));
    const oldestFirst = [...contents.keys()].sort((a, b) => imageUse(a) - imageUse(b) || (a < b ? -1 : 1));
    const holdersLeft = new Map([...holders].map(([digest, entry]) => [digest, entry.images.size]));
    const target = maxSizeBytes * LOW_WATER;
    for (const image of oldestFirst) {
      if (usedBytes - evictBytes <= target) break;
      const own = contents.get(image) ?? [];
      evict.set(image, own);
      for (const digest of own) {
        const left = (holdersLeft.get(digest) ?? 1) - 1;
        holdersLeft.set(digest, left);
        if (left === 0 && sizes.has(digest)) {
          evictBytes += sizes.get(digest) ?? 0;
          evictCount++;
        }
      }
    }
  }
  return { repository, usedBytes, maxSizeBytes, evict, evictBytes, evictCount };
}
