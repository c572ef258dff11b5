/**
 * A per-replica cache of the three metadata documents a pull reads on every request — tag → digest,
 * manifest link, layer link — in front of a {@link HostedMetadata}, with a bounded staleness.
 *
 * The consistency guarantee, exactly:
 * - **This process's own writes are visible at once.** Every write through this object stores the
 *   value it wrote in the cache after the store accepted it (a failed write drops the entry), and a
 *   read that was already in flight when a write landed never puts its older answer back.
 * - **Writes by another replica sharing the store** (or made in the store behind this object's
 *   back) are seen at most `maxAgeMs` (default 1 s) after they complete: an entry is trusted until
 *   `maxAgeMs` after the store read that produced it *started*, then read again. Absence (a tag or
 *   link that does not exist) is cached under the same bound.
 * - **Only pulls use it.** The `cached*` methods are for reads that answer clients (manifest GET and
 *   HEAD, blob GET and HEAD). Every method of the {@link HostedMetadata} interface reads the store,
 *   so what decides a write — references of a pushed manifest, the redeploy check, what a delete
 *   removes, mounts — never depends on the cache (and refreshes it as a side effect).
 * - Memory is bounded: at most `maxEntries` entries (least recently used evicted first).
 *
 * A reload builds new repositories with empty caches; a write still in flight on the old state is,
 * for the new one, a write by "another replica": visible within the bound.
 */
import type { Digest } from '../../storage/blob-store.ts';
import type { Descriptor } from '../repository.ts';
import type { HostedMetadata, ManifestLink } from './metadata.ts';

/** Bounds of a {@link CachedHostedMetadata}. */
export interface MetadataCacheOptions {
  /** How long a value read from the store is trusted, ms (default 1000; 0 disables the cache). */
  readonly maxAgeMs?: number;
  /** Most entries kept (default 10 000, about 2–3 MiB). */
  readonly maxEntries?: number;
  /** Monotonic clock in ms, for tests (default `performance.now`). */
  readonly now?: () => number;
}

interface Entry {
  readonly value: unknown;
  readonly expiresAt: number;
  /** The write counter when the value was learnt: a fill older than this entry never replaces it. */
  readonly stamp: number;
}

/** The hosted metadata with cached pull reads; see the module comment for the guarantee. */
export class CachedHostedMetadata implements HostedMetadata {
  readonly #meta: HostedMetadata;
  readonly #entries = new Map<string, Entry>();
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Counts writes through this object (see {@link Entry.stamp}). */
  #writes = 0;
  /** Writes in flight per key, and the keys two writes overlapped on (the store's order is unknown). */
  readonly #inFlight = new Map<string, number>();
  readonly #contended = new Set<string>();

  constructor(meta: HostedMetadata, options: MetadataCacheOptions = {}) {
    this.#meta = meta;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.#now = options.now ?? (() => performance.now());
  }

  /** Entries currently held (expired ones go lazily), for tests and status. */
  get size(): number {
    return this.#entries.size;
  }

  /** The digest `tag` points to, from the cache when fresh enough. */
  cachedTag(image: string, tag: string): Promise<Digest | undefined> {
    return this.#cached(tagKey(image, tag), () => this.#meta.getTag(image, tag));
  }

  /** The manifest link of `digest` in `image`, from the cache when fresh enough. */
  cachedManifestLink(image: string, digest: Digest): Promise<ManifestLink | undefined> {
    return this.#cached(manifestKey(image, digest), () => this.#meta.getManifestLink(image, digest));
  }

  /** Whether `digest` is linked in `image`, from the cache when fresh enough. */
  cachedBlobLinked(image: string, digest: Digest): Promise<boolean> {
    return this.#cached(layerKey(image, digest), () => this.#meta.isBlobLinked(image, digest));
  }

  // Reads of the HostedMetadata interface: always the store (and the cache learns the answer).

  isBlobLinked(image: string, digest: Digest): Promise<boolean> {
    return this.#fresh(layerKey(image, digest), () => this.#meta.isBlobLinked(image, digest));
  }

  getManifestLink(image: string, digest: Digest): Promise<ManifestLink | undefined> {
    return this.#fresh(manifestKey(image, digest), () => this.#meta.getManifestLink(image, digest));
  }

  getTag(image: string, tag: string): Promise<Digest | undefined> {
    return this.#fresh(tagKey(image, tag), () => this.#meta.getTag(image, tag));
  }

  listTags(image: string): Promise<string[]> {
    return this.#meta.listTags(image);
  }

  listReferrers(image: string, subject: Digest): Promise<Descriptor[]> {
    return this.#meta.listReferrers(image, subject);
  }

  listImages(): Promise<string[]> {
    return this.#meta.listImages();
  }

  listManifestLinks(image: string): ReturnType<HostedMetadata['listManifestLinks']> {
    return this.#meta.listManifestLinks(image);
  }

  listBlobLinks(image: string): ReturnType<HostedMetadata['listBlobLinks']> {
    return this.#meta.listBlobLinks(image);
  }

  hasImage(image: string): Promise<boolean> {
    return this.#meta.hasImage(image);
  }

  // Writes: the store first, then the cache holds what was written.

  linkBlob(image: string, digest: Digest): Promise<void> {
    return this.#write(layerKey(image, digest), true, () => this.#meta.linkBlob(image, digest));
  }

  unlinkBlob(image: string, digest: Digest): Promise<void> {
    return this.#write(layerKey(image, digest), false, () => this.#meta.unlinkBlob(image, digest));
  }

  linkManifest(image: string, digest: Digest, link: ManifestLink): Promise<void> {
    return this.#write(manifestKey(image, digest), link, () => this.#meta.linkManifest(image, digest, link));
  }

  unlinkManifest(image: string, digest: Digest): Promise<void> {
    return this.#write(manifestKey(image, digest), undefined, () => this.#meta.unlinkManifest(image, digest));
  }

  setTag(image: string, tag: string, digest: Digest): Promise<void> {
    return this.#write(tagKey(image, tag), digest, () => this.#meta.setTag(image, tag, digest));
  }

  deleteTag(image: string, tag: string): Promise<void> {
    return this.#write(tagKey(image, tag), undefined, () => this.#meta.deleteTag(image, tag));
  }

  addReferrer(image: string, subject: Digest, referrer: Descriptor): Promise<void> {
    return this.#meta.addReferrer(image, subject, referrer);
  }

  removeReferrer(image: string, subject: Digest, referrer: Digest): Promise<void> {
    return this.#meta.removeReferrer(image, subject, referrer);
  }

  /** A fresh entry's value (refreshed as most recently used), else the store's answer. */
  #cached<T>(key: string, read: () => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (entry.expiresAt > this.#now()) {
        this.#entries.delete(key);
        this.#entries.set(key, entry);
        return Promise.resolve(entry.value as T);
      }
      this.#entries.delete(key);
    }
    return this.#fresh(key, read);
  }

  /** Reads the store and keeps the answer, unless a write through this object landed meanwhile. */
  async #fresh<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (this.#maxAgeMs <= 0) return read();
    const startedAt = this.#now();
    const writes = this.#writes;
    const value = await read();
    const current = this.#entries.get(key);
    // A write since this read started makes its answer suspect: the write's entry (if any) stays,
    // and a missing one is left missing (the write failed, or its entry was evicted).
    const overtaken = current === undefined ? this.#writes !== writes : current.stamp > writes;
    if (!overtaken) this.#set(key, { value, expiresAt: startedAt + this.#maxAgeMs, stamp: writes });
    return value;
  }

  async #write(key: string, value: unknown, write: () => Promise<void>): Promise<void> {
    if (this.#maxAgeMs <= 0) return write();
    const overlapping = this.#inFlight.get(key) ?? 0;
    if (overlapping > 0) this.#contended.add(key);
    this.#inFlight.set(key, overlapping + 1);
    this.#writes += 1;
    this.#entries.delete(key);
    let written = false;
    try {
      await write();
      written = true;
    } finally {
      // Counted again either way, so a read begun before this write never fills the entry.
      this.#writes += 1;
      const left = (this.#inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(key, left);
      else this.#inFlight.delete(key);
      // A failed write may or may not have reached the store, and of two overlapping writes the
      // store kept one we cannot tell: either way the entry goes, and the next read asks the store.
      if (written && !this.#contended.has(key)) {
        this.#set(key, { value, expiresAt: this.#now() + this.#maxAgeMs, stamp: this.#writes });
      } else {
        this.#entries.delete(key);
      }
      if (left === 0) this.#contended.delete(key);
    }
  }

  #set(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }
}

// Keys: a kind letter, the image and the tag or digest, separated by characters neither a name nor
// a tag nor a digest may contain.
const tagKey = (image: string, tag: string) => `t ${image} ${tag}`;
const manifestKey = (image: string, digest: Digest) => `m ${image} ${digest}`;
const layerKey = (image: string, digest: Digest) => `l ${image} ${digest}`;
