/**
 * The mark phase: what in a store is still referenced, read from the metadata of every repository
 * found in the store (not only those the config names: a repository taken out of the config keeps
 * its content until its metadata is removed).
 *
 * Hosted repositories (repositories/hosted/metadata.ts): an image's roots are its tags (minus
 * those its cleanup rules delete) and its manifests linked less than the grace period ago (a push
 * in progress: children of an index come before the index's tag). From the roots, everything a
 * manifest references is reached (an index's children, a manifest's config and layers; any
 * `digest` in the document counts, so nothing a manifest names can be missed), and every referrer
 * of a reached manifest (a signature kept with its image). The image's other manifests, older than
 * the grace period, are removable, and so are its layer links that no reached manifest uses and
 * that are older than the grace period.
 *
 * Proxy repositories (repositories/proxy/cache-records.ts): every cached manifest and blob is kept;
 * a size-bounded cache hands its evictions to the collector explicitly.
 */

import { readManifestBytes } from '../oci/manifest.ts';
import { hostedKeys, type LinkEntry, type ManifestLink, openHostedMetadata } from '../repositories/hosted/metadata.ts';
import { ProxyCache } from '../repositories/proxy/cache-records.ts';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import type { BlobListing } from './blob-listing.ts';
import { type CleanupRule, selectTagRemovals, type TagRemoval } from './cleanup.ts';
import { mapLimit } from './limit.ts';

const CONCURRENCY = 8;

/** What the mark phase needs besides the store. */
export interface MarkOptions {
  readonly now: number;
  readonly gracePeriodMs: number;
  /**
   * The visible blobs (from `listBlobs`): their write times give the age of a link written before
   * link times existed, and the digests that manifests name are kept as the listing's strings.
   */
  readonly blobs: Pick<BlobListing, 'modifiedAt' | 'intern'>;
  /** Cleanup rules by hosted repository name (only configured repositories have any). */
  readonly cleanup?: ReadonlyMap<string, readonly CleanupRule[]>;
  /** Proxy records to forget before marking (evictions): by repository, image → digests. */
  readonly evict?: ReadonlyMap<string, ReadonlyMap<string, readonly Digest[]>>;
}

/** A manifest link the sweep removes. */
export interface ManifestRemoval {
  readonly repository: string;
  readonly image: string;
  readonly digest: Digest;
  readonly link: ManifestLink;
  readonly reason: string;
}

/** Where something lives: a hosted repository's image. */
export interface ImageRef {
  readonly repository: string;
  readonly image: string;
}

/** The outcome of marking one store. */
export interface StoreReferences {
  /** Blobs (manifests and their content) that stay. */
  readonly keep: Set<Digest>;
  /** What every hosted manifest read references (kept or not), for closures over intents. */
  readonly manifestRefs: Map<Digest, Digest[]>;
  readonly manifests: ManifestRemoval[];
  readonly layerLinks: (ImageRef & { digest: Digest })[];
  readonly tags: (ImageRef & TagRemoval)[];
  readonly counts: { repositories: number; images: number; manifests: number; tags: number; cacheRecords: number };
}

/** Every `digest` (and schema-1 `blobSum`) string in a manifest document, in order, once each. */
export function referencedDigests(body: Buffer): Digest[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const found = new Set<Digest>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 16 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      if ((key === 'digest' || key === 'blobSum') && typeof item === 'string') found.add(item);
      else walk(item, depth + 1);
    }
  };
  walk(doc, 0);
  return [...found];
}

/** Reads a manifest's bytes (bounded); undefined when missing or oversized. */
async function readManifest(store: BlobStore, digest: Digest): Promise<Buffer | undefined> {
  try {
    return await readManifestBytes(await store.read(digest));
  } catch {
    return undefined;
  }
}

/** Marks `store`. Reads only; see the module comment. */
export async function markStore(store: BlobStore, options: MarkOptions): Promise<StoreReferences> {
  const result: StoreReferences = {
    keep: new Set(),
    manifestRefs: new Map(),
    manifests: [],
    layerLinks: [],
    tags: [],
    counts: { repositories: 0, images: 0, manifests: 0, tags: 0, cacheRecords: 0 },
  };
  for (const repository of await store.listMeta('repositories')) {
    result.counts.repositories++;
    await markHosted(store, repository, options, result);
  }
  for (const repository of await store.listMeta('proxy')) {
    result.counts.repositories++;
    await markProxy(store, repository, options, result);
  }
  return result;
}

async function markHosted(
  store: BlobStore,
  repository: string,
  options: MarkOptions,
  result: StoreReferences,
): Promise<void> {
  const meta = openHostedMetadata(store, repository);
  const rules = options.cleanup?.get(repository) ?? [];
  const keys = hostedKeys(repository);
  const images = await meta.listImages();
  result.counts.images += images.length;
  await mapLimit(images, 2, async (image) => {
    const [tagNames, links, blobLinks] = await Promise.all([
      meta.listTags(image),
      meta.listManifestLinks(image),
      meta.listBlobLinks(image),
    ]);
    const tags = new Map<string, Digest>();
    const targets = await mapLimit(tagNames, CONCURRENCY, (tag) => meta.getTag(image, tag));
    tagNames.forEach((tag, i) => {
      const digest = targets[i];
      if (digest !== undefined) tags.set(tag, digest);
    });
    result.counts.tags += tags.size;
    result.counts.manifests += links.length;
    const age = (entry: LinkEntry) => options.now - (entry.linkedAt ?? options.blobs.modifiedAt(entry.digest) ?? 0);
    const linked = new Map(links.map((entry) => [entry.digest, entry]));

    const bodies = await mapLimit(links, CONCURRENCY, (entry) => readManifest(store, entry.digest));
    links.forEach((entry, i) => {
      const body = bodies[i];
      const refs = body === undefined ? [] : referencedDigests(body);
      result.manifestRefs.set(
        entry.digest,
        refs.map((digest) => options.blobs.intern(digest)),
      );
    });

    // cleanup rules: the tags they delete are no roots
    let removedTags: TagRemoval[] = [];
    if (rules.length > 0) {
      const pulled = await mapLimit([...tags], CONCURRENCY, async ([, digest]) => {
        const doc = await store.getMeta(keys.pulled(image, digest));
        const at = doc === undefined ? Number.NaN : Number(doc.toString('utf8'));
        return Number.isFinite(at) ? at : undefined;
      });
      const facts = [...tags].map(([tag, digest], i) => {
        const entry = linked.get(digest);
        const pushedAt = entry === undefined ? options.now : options.now - age(entry);
        const pulledAt = pulled[i];
        return pulledAt === undefined ? { tag, digest, pushedAt } : { tag, digest, pushedAt, pulledAt };
      });
      removedTags = selectTagRemovals(rules, facts, options.now);
      for (const removal of removedTags) result.tags.push({ repository, image, ...removal });
    }
    const removedTagNames = new Set(removedTags.map((removal) => removal.tag));

    const roots = new Set<Digest>();
    for (const [tag, digest] of tags) if (!removedTagNames.has(tag)) roots.add(digest);
    for (const entry of links) if (age(entry) < options.gracePeriodMs) roots.add(entry.digest);

    // reach: children and content of manifests, then referrers of what is reached
    const referrersOf = new Map<Digest, Digest[]>();
    for (const entry of links) {
      const subject = entry.link.subject;
      if (subject !== undefined) referrersOf.set(subject, [...(referrersOf.get(subject) ?? []), entry.digest]);
    }
    const reached = new Set<Digest>();
    const used = new Set<Digest>();
    const queue = [...roots];
    while (queue.length > 0) {
      const digest = queue.pop() as Digest;
      if (reached.has(digest)) continue;
      reached.add(digest);
      for (const ref of result.manifestRefs.get(digest) ?? []) {
        used.add(ref);
        if (linked.has(ref)) queue.push(ref);
      }
      for (const referrer of referrersOf.get(digest) ?? []) queue.push(referrer);
    }
    for (const digest of reached) result.keep.add(digest);
    for (const digest of used) result.keep.add(digest);

    for (const entry of links) {
      if (reached.has(entry.digest)) continue;
      result.manifests.push({
        repository,
        image,
        digest: entry.digest,
        link: entry.link,
        reason: 'untagged and referenced by no tagged manifest for longer than the grace period',
      });
    }
    for (const entry of blobLinks) {
      if (used.has(entry.digest) || reached.has(entry.digest)) continue;
      if (age(entry) < options.gracePeriodMs) result.keep.add(entry.digest);
      else result.layerLinks.push({ repository, image, digest: entry.digest });
    }
  });
}

async function markProxy(
  store: BlobStore,
  repository: string,
  options: MarkOptions,
  result: StoreReferences,
): Promise<void> {
  const cache = new ProxyCache(store, repository);
  const evicted = options.evict?.get(repository);
  await mapLimit(await cache.listImages(), 2, async (image) => {
    result.counts.images++;
    const gone = new Set(evicted?.get(image) ?? []);
    const [manifests, blobs] = await Promise.all([cache.listManifests(image), cache.listBlobLinks(image)]);
    for (const digest of [...manifests, ...blobs]) {
      result.counts.cacheRecords++;
      if (!gone.has(digest)) result.keep.add(digest);
    }
  });
}
