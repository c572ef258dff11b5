/**
 * One garbage-collection pass over one blob store, while the registry serves (protocol and proof:
 * docs/gc.md).
 *
 *   1. take the store's lease (lease.ts); recover what a crashed pass left in quarantine or held;
 *   2. list the blobs with their write times; read the intent journal (journal.ts);
 *   3. mark (references.ts), and add everything the intents name (with what those manifests name);
 *   4. hold the metadata to remove (tags deleted by cleanup rules, old untagged manifest links and
 *      their referrer entries, unused old layer links): each document moves to `gc/held/<key>`;
 *   5. quarantine the blobs nobody keeps that were written before the grace period began (and the
 *      evicted proxy blobs nobody else keeps, whatever their age);
 *   6. read the journal again: whatever an intent names is restored, with its closure;
 *   7. purge the rest, prune the journal, release the lease.
 *
 * `dryRun` stops after 3 and reports what 4–7 would do. Nothing is deleted before step 6 checked
 * it, and until then everything removed can be put back.
 */

import { hostedKeys } from '../repositories/hosted/metadata.ts';
import { ProxyCache } from '../repositories/proxy/cache-records.ts';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import { BlobListing } from './blob-listing.ts';
import type { CleanupRule } from './cleanup.ts';
import { HELD_PREFIX as HELD, heldKey } from './held.ts';
import { GcJournal, type RecordedIntent } from './journal.ts';
import { GcLease, type LeaseHolder } from './lease.ts';
import { mapLimit } from './limit.ts';
import { type ImageRef, markStore, type StoreReferences } from './references.ts';

const CONCURRENCY = 8;

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  /** Content younger than this is never collected (default 1 h). */
  readonly gracePeriodMs: number;
  /**
   * How long what the pass took out of sight stays restorable before the journal is read the last
   * time (default: the grace period, at most 60 s). A client that found a blob present (HEAD) and
   * pushes a manifest referencing it within this time always succeeds. 0 in unit tests.
   */
  readonly settleMs?: number;
  /** Report only: nothing is held, quarantined or deleted. */
  readonly dryRun?: boolean;
  readonly cleanup?: ReadonlyMap<string, readonly CleanupRule[]>;
  /** Proxy records to evict (size-bounded caches): repository → image → digests. */
  readonly evict?: ReadonlyMap<string, ReadonlyMap<string, readonly Digest[]>>;
  readonly now?: () => number;
  readonly leaseTtlMs?: number;
  /** Stops the pass (serve shutting down): before deleting, everything taken out of sight is put back. */
  readonly signal?: AbortSignal;
  /** Test hooks, called between the steps of the pass (races are tested through them). */
  readonly hooks?: { afterMark?: () => Promise<void>; afterQuarantine?: () => Promise<void> };
}

/** A blob the pass deletes (or would), and why. */
export interface BlobRemoval {
  readonly digest: Digest;
  readonly size: number;
  readonly reason: string;
}

/** What one pass found and did. */
export interface GcReport {
  readonly store: string;
  readonly dryRun: boolean;
  /** Set when another collector held the lease: nothing was done. */
  readonly skipped?: { readonly heldBy: LeaseHolder };
  readonly startedAt: string;
  readonly durationMs: number;
  readonly scanned: { blobs: number; bytes: number } & StoreReferences['counts'];
  readonly deleted: {
    readonly blobs: BlobRemoval[];
    readonly manifests: (ImageRef & { digest: Digest; reason: string })[];
    readonly tags: (ImageRef & { tag: string; digest: Digest; reason: string })[];
    readonly layerLinks: number;
  };
  readonly reclaimedBytes: number;
  /** What an intent seen after the quarantine brought back (a push that raced the pass). */
  readonly restored: { blobs: number; documents: number };
  /** Leftovers of an earlier, interrupted pass that were put back first. */
  readonly recovered: { blobs: number; documents: number };
  /** True when the lease was lost or the pass was stopped midway: it put everything back and deleted nothing. */
  readonly aborted?: boolean;
}

/** Runs one pass over `store`; see the module comment. */
export async function collectGarbage(store: BlobStore, options: GcOptions): Promise<GcReport> {
  const clock = options.now ?? Date.now;
  const started = clock();
  const dryRun = options.dryRun === true;
  const base = { store: store.name, dryRun, startedAt: new Date(started).toISOString() };
  let lease: GcLease | undefined;
  if (!dryRun) {
    const taken = await GcLease.acquire(store, { ttlMs: options.leaseTtlMs, now: clock });
    if (!(taken instanceof GcLease)) return { ...emptyReport(base, clock() - started), skipped: taken };
    lease = taken;
  }
  try {
    return await pass(store, options, lease, base, started, clock);
  } finally {
    await lease?.release();
  }
}

async function pass(
  store: BlobStore,
  options: GcOptions,
  lease: GcLease | undefined,
  base: { store: string; dryRun: boolean; startedAt: string },
  started: number,
  clock: () => number,
): Promise<GcReport> {
  const dryRun = lease === undefined;
  const recovered = dryRun ? { blobs: 0, documents: 0 } : await recoverLeftovers(store);
  const now = clock();
  const windowStart = now - options.gracePeriodMs;
  const journal = new GcJournal(store, clock);

  // 2. blobs and intents
  const blobs = await BlobListing.of(store);
  const intentsBefore = await journal.read(windowStart);

  // 3. mark
  if (!dryRun && options.evict !== undefined) await forgetEvicted(store, options.evict);
  const refs = await markStore(store, {
    now,
    gracePeriodMs: options.gracePeriodMs,
    blobs,
    ...(options.cleanup === undefined ? {} : { cleanup: options.cleanup }),
    ...(options.evict === undefined ? {} : { evict: options.evict }),
  });
  await options.hooks?.afterMark?.();
  // read again after the mark (which may have taken long): what was announced meanwhile stays
  const protectedByIntents = closure(dryRun ? intentsBefore : await journal.read(windowStart), refs);
  for (const digest of protectedByIntents.digests) refs.keep.add(digest);

  const evicted = new Set<Digest>();
  for (const images of options.evict?.values() ?? [])
    for (const list of images.values()) for (const d of list) evicted.add(d);
  const doomed: BlobRemoval[] = [];
  for (const info of blobs.entries()) {
    const { digest } = info;
    if (refs.keep.has(digest)) continue;
    if (evicted.has(digest))
      doomed.push({ digest, size: info.size, reason: 'evicted from a size-bounded proxy cache' });
    else if (info.modifiedAt < windowStart) {
      doomed.push({ digest, size: info.size, reason: 'referenced by no tag, manifest or cache record' });
    }
  }
  const manifests = refs.manifests.filter((m) => !protectedByIntents.has(m.repository, m.image, m.digest));
  const layerLinks = refs.layerLinks.filter((l) => !protectedByIntents.has(l.repository, l.image, l.digest));
  const tags = refs.tags.filter((t) => !protectedByIntents.tag(t.repository, t.image, t.tag));
  const report = (deletedBlobs: BlobRemoval[], restored: GcReport['restored'], aborted = false): GcReport => ({
    ...base,
    durationMs: clock() - started,
    scanned: { blobs: blobs.size, bytes: blobs.bytes, ...refs.counts },
    deleted: {
      blobs: deletedBlobs,
      manifests: manifests.map(({ repository, image, digest, reason }) => ({ repository, image, digest, reason })),
      tags: tags.map(({ repository, image, tag, digest, reason }) => ({ repository, image, tag, digest, reason })),
      layerLinks: layerLinks.length,
    },
    reclaimedBytes: deletedBlobs.reduce((sum, blob) => sum + blob.size, 0),
    restored,
    recovered,
    ...(aborted ? { aborted } : {}),
  });
  if (dryRun || options.signal?.aborted) return report(dryRun ? doomed : [], { blobs: 0, documents: 0 }, !dryRun);

  // 4. hold metadata: tags first (what they point to is then unreferenced), then links
  const held: Held[] = [];
  const quarantined: BlobRemoval[] = [];
  const restoredEarly: Restored = { restored: new Set(), documents: 0, docs: new Set() };
  let aborted = false;
  try {
    const hold = async (entry: Omit<Held, 'doc'>, expect?: (doc: Buffer) => boolean) => {
      const doc = await store.getMeta(entry.key);
      if (doc === undefined || (expect !== undefined && !expect(doc))) return; // changed since the mark: keep
      await store.putMeta(heldKey(entry.key), doc);
      await store.deleteMeta(entry.key);
      held.push({ ...entry, doc: ownCopy(doc) });
    };
    await mapLimit(tags, CONCURRENCY, (t) =>
      hold(
        {
          kind: 'tag',
          repository: t.repository,
          image: t.image,
          digest: t.digest,
          tag: t.tag,
          key: hostedKeys(t.repository).tag(t.image, t.tag),
        },
        (doc) => doc.toString('utf8') === t.digest,
      ),
    );
    await mapLimit(manifests, CONCURRENCY, async (m) => {
      const keys = hostedKeys(m.repository);
      await hold(
        {
          kind: 'manifest',
          repository: m.repository,
          image: m.image,
          digest: m.digest,
          key: keys.manifest(m.image, m.digest),
        },
        (doc) => sameLinkTime(doc, m.link.linkedAt),
      );
      if (m.link.subject !== undefined) {
        await hold({
          kind: 'referrer',
          repository: m.repository,
          image: m.image,
          digest: m.digest,
          key: keys.referrer(m.image, m.link.subject, m.digest),
        });
      }
    });
    await mapLimit(layerLinks, CONCURRENCY, (l) =>
      hold({
        kind: 'layer',
        repository: l.repository,
        image: l.image,
        digest: l.digest,
        key: hostedKeys(l.repository).layer(l.image, l.digest),
      }),
    );

    // 5. quarantine
    await mapLimit(doomed, CONCURRENCY, async (blob) => {
      if (lease?.lost || options.signal?.aborted) {
        aborted = true;
        return;
      }
      if (await store.quarantineBlob(blob.digest)) quarantined.push(blob);
    });
    await options.hooks?.afterQuarantine?.();
    // What was announced while this pass took things out of sight comes back at once, so a push
    // racing the pass is unavailable for milliseconds, not for the settle wait.
    const early = await journal.read(windowStart);
    await bringBack(store, quarantined, held, closure(early, refs), early, false, restoredEarly);
    if (quarantined.length + held.length > 0 && !aborted) {
      await settle(options.settleMs ?? Math.min(options.gracePeriodMs, 60_000), options.signal);
      if (options.signal?.aborted) aborted = true;
    }
  } catch (error) {
    // A store failure midway: put back everything taken out of sight, then report the failure.
    await putBack(store, quarantined, held);
    throw error;
  }

  // 6. what a racing write announced comes back, with what it needs
  const intentsAfter = await journal.read(windowStart);
  const counts = await bringBack(
    store,
    quarantined,
    held,
    closure(intentsAfter, refs),
    intentsAfter,
    aborted,
    restoredEarly,
  );
  await mapLimit(held, CONCURRENCY, (entry) => store.deleteMeta(heldKey(entry.key)));
  const purged = quarantined.filter((blob) => !counts.restored.has(blob.digest));
  const restoredBlobs = counts.restored.size;
  const restoredDocs = counts.documents;

  // 7. purge, prune
  if (!aborted) {
    await mapLimit(purged, CONCURRENCY, (blob) => store.purgeBlob(blob.digest));
    await journal.prune(windowStart);
  }
  return report(
    aborted ? [] : purged,
    { blobs: aborted ? 0 : restoredBlobs, documents: aborted ? 0 : restoredDocs },
    aborted,
  );
}

/** What {@link bringBack} has put back so far in a pass. */
interface Restored {
  /** Digests of quarantined blobs restored. */
  readonly restored: Set<Digest>;
  documents: number;
  /** Keys of held documents put back. */
  readonly docs: Set<string>;
}

/**
 * Restores what `intents` announce (or everything, with `all`): quarantined blobs in the closure,
 * held documents of the images and tags they name. Idempotent across calls through `done`.
 */
async function bringBack(
  store: BlobStore,
  quarantined: readonly BlobRemoval[],
  held: readonly Held[],
  announced: ReturnType<typeof closure>,
  intents: readonly RecordedIntent[],
  all: boolean,
  done: Restored = { restored: new Set(), documents: 0, docs: new Set() },
): Promise<Restored> {
  await mapLimit(quarantined, CONCURRENCY, async (blob) => {
    if (done.restored.has(blob.digest) || !(all || announced.digests.has(blob.digest))) return;
    await store.restoreBlob(blob.digest);
    done.restored.add(blob.digest);
  });
  await mapLimit(held, CONCURRENCY, async (entry) => {
    if (done.docs.has(entry.key)) return;
    const back =
      all ||
      (entry.kind === 'tag'
        ? announced.tag(entry.repository, entry.image, entry.tag!)
        : announced.has(entry.repository, entry.image, entry.digest));
    if (!back) return;
    if ((await store.getMeta(entry.key)) === undefined) {
      await store.putMeta(entry.key, await restoredDoc(store, entry, intents));
    }
    done.docs.add(entry.key);
    done.documents++;
  });
  return done;
}

/** Waits `ms`, or less when `signal` aborts (the pass then puts everything back). */
function settle(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Restores every quarantined blob and held document of a pass that cannot finish. */
async function putBack(store: BlobStore, quarantined: readonly BlobRemoval[], held: readonly Held[]): Promise<void> {
  await mapLimit(quarantined, CONCURRENCY, (blob) => store.restoreBlob(blob.digest).catch(() => false));
  await mapLimit(held, CONCURRENCY, async (entry) => {
    try {
      if ((await store.getMeta(entry.key)) === undefined) await store.putMeta(entry.key, entry.doc);
      await store.deleteMeta(heldKey(entry.key));
    } catch {
      // left held: the next pass puts it back first (recoverLeftovers)
    }
  });
}

interface Held {
  readonly kind: 'tag' | 'manifest' | 'referrer' | 'layer';
  readonly repository: string;
  readonly image: string;
  readonly digest: Digest;
  readonly tag?: string;
  readonly key: string;
  readonly doc: Buffer;
}

/**
 * The document to put back: the held one, except for a tag a racing push announced, which gets the
 * digest that push is moving it to once that manifest is linked (the held copy may predate it).
 */
async function restoredDoc(store: BlobStore, entry: Held, intents: readonly RecordedIntent[]): Promise<Buffer> {
  if (entry.kind !== 'tag') return entry.doc;
  const latest = intents
    .filter((i) => i.repository === entry.repository && i.image === entry.image && i.tag === entry.tag)
    .sort((a, b) => b.at - a.at)[0];
  const target = latest?.manifests[0];
  if (target === undefined) return entry.doc;
  const linked = await store.getMeta(hostedKeys(entry.repository).manifest(entry.image, target));
  return linked === undefined ? entry.doc : Buffer.from(target);
}

/**
 * A copy of a held document in memory of its own. A document read from the store may be a slice
 * of a shared 8 KiB pool (storage/drivers/file/meta.ts), and a pass holds tens of thousands of
 * them until it ends: kept as slices, they pinned their pools (59 MiB of a 100 000-blob pass).
 */
function ownCopy(doc: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(doc.length);
  doc.copy(copy);
  return copy;
}

/** True when a manifest link document still carries the link time the mark saw. */
function sameLinkTime(doc: Buffer, linkedAt: number | undefined): boolean {
  try {
    return (JSON.parse(doc.toString('utf8')) as { linkedAt?: number }).linkedAt === linkedAt;
  } catch {
    return false;
  }
}

/**
 * What intents protect: every digest they name, closed over what the named manifests reference
 * (an index's children and their layers); per image, for the links; and their tags.
 */
function closure(intents: readonly RecordedIntent[], refs: StoreReferences) {
  const digests = new Set<Digest>();
  const perImage = new Map<string, Set<Digest>>();
  const tags = new Set<string>();
  const imageKey = (repository: string, image: string) => `${repository}\u0000${image}`;
  for (const intent of intents) {
    const mine = perImage.get(imageKey(intent.repository, intent.image)) ?? new Set<Digest>();
    perImage.set(imageKey(intent.repository, intent.image), mine);
    const queue = [...intent.blobs, ...intent.manifests];
    while (queue.length > 0) {
      const digest = queue.pop() as Digest;
      if (mine.has(digest)) continue;
      mine.add(digest);
      digests.add(digest);
      queue.push(...(refs.manifestRefs.get(digest) ?? []));
    }
    if (intent.tag !== undefined) tags.add(`${imageKey(intent.repository, intent.image)}\u0000${intent.tag}`);
  }
  return {
    digests,
    has: (repository: string, image: string, digest: Digest) =>
      perImage.get(imageKey(repository, image))?.has(digest) === true,
    tag: (repository: string, image: string, tag: string) => tags.has(`${imageKey(repository, image)}\u0000${tag}`),
  };
}

/** Forgets evicted proxy records (the blobs follow in the sweep when nothing else keeps them). */
async function forgetEvicted(
  store: BlobStore,
  evict: ReadonlyMap<string, ReadonlyMap<string, readonly Digest[]>>,
): Promise<void> {
  for (const [repository, images] of evict) {
    const cache = new ProxyCache(store, repository);
    for (const [image, digests] of images) await mapLimit(digests, CONCURRENCY, (d) => cache.forget(image, d));
  }
}

/**
 * Puts back what an interrupted pass left: every quarantined blob and every held document (its
 * pass did not get to decide). The next steps of this pass decide again.
 */
export async function recoverLeftovers(store: BlobStore): Promise<{ blobs: number; documents: number }> {
  let blobs = 0;
  const quarantined: Digest[] = [];
  for await (const digest of store.listQuarantined()) quarantined.push(digest);
  await mapLimit(quarantined, CONCURRENCY, async (digest) => {
    await store.restoreBlob(digest);
    blobs++;
  });
  let documents = 0;
  for (const key of await walkMeta(store, HELD)) {
    const original = key.slice(HELD.length + 1);
    const doc = await store.getMeta(key);
    if (doc !== undefined && (await store.getMeta(original)) === undefined) await store.putMeta(original, doc);
    await store.deleteMeta(key);
    documents++;
  }
  return { blobs, documents };
}

/** Every document key under `prefix`, depth first. */
async function walkMeta(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await store.listMeta(prefix)) {
    const key = `${prefix}/${name}`;
    if ((await store.getMeta(key)) !== undefined) out.push(key);
    out.push(...(await walkMeta(store, key)));
  }
  return out;
}

function emptyReport(base: { store: string; dryRun: boolean; startedAt: string }, durationMs: number): GcReport {
  return {
    ...base,
    durationMs,
    scanned: { blobs: 0, bytes: 0, repositories: 0, images: 0, manifests: 0, tags: 0, cacheRecords: 0 },
    deleted: { blobs: [], manifests: [], tags: [], layerLinks: 0 },
    reclaimedBytes: 0,
    restored: { blobs: 0, documents: 0 },
    recovered: { blobs: 0, documents: 0 },
  };
}
