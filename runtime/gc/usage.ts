/**
 * What a blob store holds, and how much of it each repository uses (`regctl usage`, `/-/status`,
 * hosted quotas). A blob counts once per store, and once per repository however many of the
 * repository's images link it; the sum over repositories can exceed the store's total (shared
 * blobs) or fall short of it (garbage not yet collected).
 */
import { openHostedMetadata } from '../repositories/hosted/metadata.ts';
import { ProxyCache } from '../repositories/proxy/cache-records.ts';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import { BlobListing } from './blob-listing.ts';
import { mapLimit } from './limit.ts';

/** One repository's share of a store. */
export interface RepositoryUsage {
  readonly repository: string;
  readonly kind: 'hosted' | 'proxy';
  readonly images: number;
  /** Distinct blobs (manifests included) its images link. */
  readonly blobs: number;
  readonly bytes: number;
}

/** A store's totals and its repositories, biggest first. */
export interface StoreUsage {
  readonly store: string;
  readonly blobs: number;
  readonly bytes: number;
  readonly repositories: RepositoryUsage[];
  readonly measuredAt: string;
  readonly durationMs: number;
}

/** The distinct digests a repository's images link (blobs and manifests), and its image count. */
export async function linkedDigests(
  store: BlobStore,
  kind: 'hosted' | 'proxy',
  repository: string,
): Promise<{ digests: Set<Digest>; images: number }> {
  const digests = new Set<Digest>();
  if (kind === 'hosted') {
    const meta = openHostedMetadata(store, repository);
    const images = await meta.listImages();
    await mapLimit(images, 4, async (image) => {
      const [blobs, manifests] = await Promise.all([meta.listBlobLinks(image), meta.listManifestLinks(image)]);
      for (const entry of [...blobs, ...manifests]) digests.add(entry.digest);
    });
    return { digests, images: images.length };
  }
  const cache = new ProxyCache(store, repository);
  const images = await cache.listImages();
  await mapLimit(images, 4, async (image) => {
    const [blobs, manifests] = await Promise.all([cache.listBlobLinks(image), cache.listManifests(image)]);
    for (const digest of [...blobs, ...manifests]) digests.add(digest);
  });
  return { digests, images: images.length };
}

/** Measures `store`: one listing of its blobs, one walk of its metadata. */
export async function measureUsage(store: BlobStore, now: () => number = Date.now): Promise<StoreUsage> {
  const started = now();
  const listing = await BlobListing.of(store);
  const repositories: RepositoryUsage[] = [];
  for (const kind of ['hosted', 'proxy'] as const) {
    for (const repository of await store.listMeta(kind === 'hosted' ? 'repositories' : 'proxy')) {
      const { digests, images } = await linkedDigests(store, kind, repository);
      let used = 0;
      let present = 0;
      for (const digest of digests) {
        const size = listing.sizeOf(digest);
        if (size === undefined) continue; // linked but collected or never completed
        used += size;
        present++;
      }
      repositories.push({ repository, kind, images, blobs: present, bytes: used });
    }
  }
  repositories.sort((a, b) => b.bytes - a.bytes || (a.repository < b.repository ? -1 : 1));
  return {
    store: store.name,
    blobs: listing.size,
    bytes: listing.bytes,
    repositories,
    measuredAt: new Date(started).toISOString(),
    durationMs: now() - started,
  };
}
