/**
 * {@link StoredContent} of hosted and proxy repositories: what their metadata layouts say is stored,
 * read without noting a pull, asking an upstream or touching the metadata caches' write paths.
 * Groups combine their members' (group/group.ts). Manifest bodies come from the repository's
 * {@link ContentCache} when it holds them (a browse of 50 tags then costs 50 metadata reads), and
 * from the store otherwise, bounded like every manifest read.
 */
import { TAG_PATTERN } from '../../compiler/plan.ts';
import { readManifestBytes } from '../oci/manifest.ts';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import { isStorageError } from '../storage/errors.ts';
import type { ContentCache } from './content-cache.ts';
import type { HostedMetadata } from './hosted/metadata.ts';
import type { ProxyCache } from './proxy/cache-records.ts';
import { type PullTimes, parsePullTime } from './pull-times.ts';
import type { Descriptor, StoredContent, StoredManifest } from './repository.ts';

/** The body of `digest` from `cache` or the store; undefined when missing or over the manifest bound. */
async function readBody(
  store: BlobStore,
  cache: ContentCache | undefined,
  digest: Digest,
): Promise<Buffer | undefined> {
  const cached = cache?.body(digest);
  if (cached !== undefined) return cached;
  const body = await store.read(digest).then(readManifestBytes, (error: unknown) => {
    if (isStorageError(error, 'STORAGE_NOT_FOUND')) return undefined;
    throw error;
  });
  if (body !== undefined) cache?.setBody(digest, body);
  return body;
}

/** The newer of the stored pull time and the one noted but not yet written. */
function latestPull(stored: Buffer | undefined, unwritten: number | undefined): number | undefined {
  const latest = Math.max(parsePullTime(stored) ?? 0, unwritten ?? 0);
  return latest > 0 ? latest : undefined;
}

/** What a hosted repository's stored content is read from. */
export interface HostedStoredParts {
  readonly store: BlobStore;
  /**
   * Tag and link reads: tags through the pull path's cache (`cachedTag`), manifest links from the
   * store, since the cache holds a link as its push wrote it, before the push time was added.
   */
  readonly meta: Pick<HostedMetadata, 'listTags' | 'listReferrers' | 'isBlobLinked' | 'getManifestLink'> & {
    cachedTag(image: string, tag: string): Promise<Digest | undefined>;
  };
  readonly cache: ContentCache;
  /** The key of a manifest's last-pull time (hostedKeys().pulled). */
  readonly pulledKey: (image: string, digest: Digest) => string;
  /** The repository's pull recorder: a pull not yet written counts. */
  readonly pulls?: Pick<PullTimes, 'unwritten'>;
}

/** The stored content of a hosted repository. */
export function hostedStoredContent(parts: HostedStoredParts): StoredContent {
  const { store, meta, cache } = parts;
  return {
    async listTags(image) {
      return [...(await meta.listTags(image))].sort();
    },
    resolveTag: (image, tag) => (TAG_PATTERN.test(tag) ? meta.cachedTag(image, tag) : Promise.resolve(undefined)),
    async readManifest(image, digest): Promise<StoredManifest | undefined> {
      const link = await meta.getManifestLink(image, digest);
      if (link === undefined) return undefined;
      const key = parts.pulledKey(image, digest);
      const [body, pulled] = await Promise.all([readBody(store, cache, digest), store.getMeta(key)]);
      if (body === undefined) return undefined;
      const pulledAt = latestPull(pulled, parts.pulls?.unwritten(key));
      return {
        digest,
        mediaType: link.mediaType,
        body,
        ...(link.linkedAt === undefined ? {} : { storedAt: link.linkedAt }),
        ...(pulledAt === undefined ? {} : { pulledAt }),
      };
    },
    listReferrers: (image, digest) => meta.listReferrers(image, digest),
    async readConfig(image, digest) {
      return (await meta.isBlobLinked(image, digest)) ? readBody(store, undefined, digest) : undefined;
    },
  };
}

/**
 * The cached content of a proxy repository; `upstreamName` maps an image to its cache name, and
 * `pulls` (the repository's recorder) adds pulls not yet written.
 */
export function proxyStoredContent(
  store: BlobStore,
  cache: ProxyCache,
  upstreamName: (image: string) => string,
  pulls?: Pick<PullTimes, 'unwritten'>,
): StoredContent {
  return {
    async listTags(image) {
      return [...(await cache.listTags(upstreamName(image)))].sort();
    },
    async resolveTag(image, tag) {
      if (!TAG_PATTERN.test(tag)) return undefined;
      return (await cache.getTag(upstreamName(image), tag))?.digest;
    },
    async readManifest(image, digest): Promise<StoredManifest | undefined> {
      const name = upstreamName(image);
      const link = await cache.getManifestLink(name, digest);
      if (link === undefined) return undefined;
      const key = cache.pulledKey(digest);
      const [body, pulled] = await Promise.all([readBody(store, undefined, digest), store.getMeta(key)]);
      if (body === undefined) return undefined;
      const cachedAt = (link as { cachedAt?: unknown }).cachedAt;
      const pulledAt = latestPull(pulled, pulls?.unwritten(key));
      return {
        digest,
        mediaType: link.mediaType,
        body,
        ...(typeof cachedAt === 'number' ? { storedAt: cachedAt } : {}),
        ...(pulledAt === undefined ? {} : { pulledAt }),
      };
    },
    listReferrers: async (): Promise<Descriptor[]> => [],
    async readConfig(image, digest) {
      return (await cache.isBlobLinked(upstreamName(image), digest)) ? readBody(store, undefined, digest) : undefined;
    },
  };
}

/** The stored content of a group: tags and referrers of every member, manifests from the first that has them. */
export function groupStoredContent(members: readonly { readonly stored?: StoredContent }[]): StoredContent {
  const stores = members.flatMap((member) => (member.stored === undefined ? [] : [member.stored]));
  const first = async <T>(ask: (stored: StoredContent) => Promise<T | undefined>): Promise<T | undefined> => {
    for (const stored of stores) {
      const found = await ask(stored);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return {
    async listTags(image) {
      const lists = await Promise.all(stores.map((stored) => stored.listTags(image)));
      return [...new Set(lists.flat())].sort();
    },
    resolveTag: (image, tag) => first((stored) => stored.resolveTag(image, tag)),
    readManifest: (image, digest) => first((stored) => stored.readManifest(image, digest)),
    async listReferrers(image, digest) {
      const lists = await Promise.all(stores.map((stored) => stored.listReferrers(image, digest)));
      const seen = new Map<string, Descriptor>();
      for (const descriptor of lists.flat()) if (!seen.has(descriptor.digest)) seen.set(descriptor.digest, descriptor);
      return [...seen.values()];
    },
    readConfig: (image, digest) => first((stored) => stored.readConfig(image, digest)),
  };
}
