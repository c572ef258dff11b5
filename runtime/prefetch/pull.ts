/**
 * One image pulled through a proxy repository in-process, the way a client's pull goes through
 * it: the manifest (a tag revalidated upstream), for an index every child manifest, then each
 * config and layer blob the cache lacks, read to the end so the proxy's stream-through stores it
 * (it verifies the digest; nothing partial is kept). Blobs already cached are not read again.
 */
import type { CacheResult } from '../events.ts';
import { parseManifest } from '../oci/manifest.ts';
import type { BlobResponse, Manifest } from '../repositories/repository.ts';
import type { Digest } from '../storage/blob-store.ts';

/** What the prefetch needs of a proxy repository (`ProxyRepository` implements it). */
export interface PrefetchTarget {
  prefetchManifest(
    image: string,
    reference: string,
    maxAgeMs: number,
  ): Promise<{ manifest: Manifest; result: CacheResult }>;
  hasCachedBlob(image: string, digest: Digest): Promise<boolean>;
  getBlob(image: string, digest: Digest): Promise<BlobResponse>;
}

/** True when `value` offers the {@link PrefetchTarget} methods. */
export function isPrefetchTarget(value: unknown): value is PrefetchTarget {
  const target = value as Partial<PrefetchTarget> | undefined;
  return typeof target?.prefetchManifest === 'function' && typeof target.hasCachedBlob === 'function';
}

/** What pulling one image did. */
export interface PulledImage {
  readonly digest: string;
  readonly manifests: number;
  /** Blobs fetched from the upstream this time, and their bytes. */
  readonly blobsFetched: number;
  readonly bytes: number;
  /** The tag could not be revalidated (upstream unavailable): the cached copy was kept. */
  readonly stale: boolean;
}

const MAX_DEPTH = 3;

/** Pulls `image:reference` through `target` into its cache; throws what the repository threw. */
export async function pullImage(
  target: PrefetchTarget,
  image: string,
  reference: string,
  signal: AbortSignal,
): Promise<PulledImage> {
  const totals = { manifests: 0, blobsFetched: 0, bytes: 0 };
  let stale = false;
  const walk = async (ref: string, depth: number): Promise<string> => {
    signal.throwIfAborted();
    // Tags are checked upstream on every run (maxAge 0); digests are immutable.
    const { manifest, result } = await target.prefetchManifest(image, ref, 0);
    if (result === 'stale') stale = true;
    totals.manifests++;
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind === 'index') {
      if (depth >= MAX_DEPTH) throw new Error(`indexes nested deeper than ${MAX_DEPTH}`);
      for (const child of parsed.manifests) await walk(child.digest, depth + 1);
      return manifest.digest;
    }
    for (const blob of parsed.blobs) {
      signal.throwIfAborted();
      if (await target.hasCachedBlob(image, blob.digest)) continue;
      const response = await target.getBlob(image, blob.digest);
      if (!('stream' in response.body)) throw new Error(`blob ${blob.digest} answered with a redirect`);
      const { stream } = response.body;
      const abort = () => stream.destroy(signal.reason as Error);
      signal.addEventListener('abort', abort, { once: true });
      try {
        for await (const chunk of stream) totals.bytes += (chunk as Buffer).length;
      } finally {
        signal.removeEventListener('abort', abort);
      }
      totals.blobsFetched++;
    }
    return manifest.digest;
  };
  const digest = await walk(reference, 0);
  return { digest, ...totals, stale };
}
