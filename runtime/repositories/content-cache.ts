/**
 * An in-process cache of **immutable** content for a hosted repository: manifest bodies and blob
 * sizes, both keyed by digest. Content addressed by a digest never changes, so a cached entry is
 * never stale in what it says; what can change — whether a tag points to it, whether an image
 * links it — is still read from the store on every request by the caller. Replicas sharing a store
 * therefore stay correct with their own caches.
 *
 * Both maps are bounded, using a Map's insertion order: bodies by total bytes, least recently used
 * first (a hit re-inserts the entry); sizes by entry count, oldest first (a hit costs nothing on
 * the blob HEAD/GET path, and an evicted size costs one stat).
 */
import type { Digest } from '../storage/blob-store.ts';

/** Bounds of a {@link ContentCache}. */
export interface ContentCacheLimits {
  /** Total bytes of manifest bodies kept (default 16 MiB). */
  readonly bodyBytes?: number;
  /** Blob sizes kept (default 100 000 entries, a few MiB). */
  readonly sizes?: number;
}

/** Manifest bodies and blob sizes by digest; see the module comment. */
export class ContentCache {
  readonly #bodies = new Map<Digest, Buffer>();
  readonly #sizes = new Map<Digest, number>();
  readonly #maxBodyBytes: number;
  readonly #maxSizes: number;
  #bodyBytes = 0;

  constructor(limits: ContentCacheLimits = {}) {
    this.#maxBodyBytes = limits.bodyBytes ?? 16 * 1024 * 1024;
    this.#maxSizes = limits.sizes ?? 100_000;
  }

  /** The verified body of manifest `digest`, when cached. */
  body(digest: Digest): Buffer | undefined {
    const body = this.#bodies.get(digest);
    if (body !== undefined) {
      this.#bodies.delete(digest);
      this.#bodies.set(digest, body);
    }
    return body;
  }

  /** Keeps `body`; the caller guarantees it is the content of `digest` (read from the store). */
  setBody(digest: Digest, body: Buffer): void {
    if (body.length > this.#maxBodyBytes || this.#bodies.has(digest)) return;
    this.#bodies.set(digest, body);
    this.#bodyBytes += body.length;
    for (const [key, value] of this.#bodies) {
      if (this.#bodyBytes <= this.#maxBodyBytes) break;
      this.#bodies.delete(key);
      this.#bodyBytes -= value.length;
    }
  }

  /** The size of blob `digest`, when cached. */
  size(digest: Digest): number | undefined {
    return this.#sizes.get(digest);
  }

  setSize(digest: Digest, size: number): void {
    if (this.#sizes.has(digest)) return;
    this.#sizes.set(digest, size);
    if (this.#sizes.size > this.#maxSizes) {
      const oldest = this.#sizes.keys().next();
      if (!oldest.done) this.#sizes.delete(oldest.value);
    }
  }

  /** Forgets `digest` (its bytes were removed from the store by this process). */
  forget(digest: Digest): void {
    const body = this.#bodies.get(digest);
    if (body !== undefined) {
      this.#bodies.delete(digest);
      this.#bodyBytes -= body.length;
    }
    this.#sizes.delete(digest);
  }
}
