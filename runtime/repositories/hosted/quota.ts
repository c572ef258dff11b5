/**
 * The quota of a hosted repository (`quota:` in the config): the bytes of the distinct blobs its
 * images link (manifests included; a blob shared by several images counts once). A write that
 * would add a blob not yet counted and take the total past the quota is refused with DENIED,
 * naming the repository, the quota and the usage.
 *
 * The usage is measured from the store's metadata (runtime/gc/usage.ts) and re-measured once it is
 * older than `refreshMs` (default 30 s); what this replica adds in between is counted at once.
 * Several replicas sharing a store each count their own writes between measurements, so
 * concurrent pushes through different replicas can overshoot by at most what they push in that
 * window. Deletes free their share at the next measurement after garbage collection.
 */

import { formatBytes } from '../../gc/format-report.ts';
import { mapLimit } from '../../gc/limit.ts';
import { linkedDigests } from '../../gc/usage.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { BlobStore, Digest } from '../../storage/blob-store.ts';

/** See the module comment. */
export class QuotaGuard {
  readonly #repository: string;
  readonly #quotaBytes: number;
  readonly #store: BlobStore;
  readonly #refreshMs: number;
  readonly #now: () => number;
  /** Sizes of blobs seen (immutable), so a re-measure stats only new ones. */
  readonly #sizes = new Map<Digest, number>();
  #usage: { digests: Set<Digest>; bytes: number; at: number } | undefined;
  #measuring: Promise<{ digests: Set<Digest>; bytes: number; at: number }> | undefined;

  constructor(
    repository: string,
    quotaBytes: number,
    store: BlobStore,
    options: { refreshMs?: number; now?: () => number } = {},
  ) {
    this.#repository = repository;
    this.#quotaBytes = quotaBytes;
    this.#store = store;
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Throws DENIED when adding blob `digest` of `size` bytes would take the repository over its
   * quota. A blob it already links costs nothing.
   */
  async check(digest: Digest, size: number): Promise<void> {
    const usage = await this.#current();
    if (usage.digests.has(digest) || usage.bytes + size <= this.#quotaBytes) return;
    throw new RegistryError('DENIED', {
      message:
        `repository ${this.#repository} is over its quota: ${formatBytes(this.#quotaBytes)} allowed, ` +
        `${formatBytes(usage.bytes)} used, and this blob of ${formatBytes(size)} would make it ` +
        `${formatBytes(usage.bytes + size)}; delete images (garbage collection then frees their blobs) ` +
        'or raise quota in the configuration',
      detail: { repository: this.#repository, quotaBytes: this.#quotaBytes, usedBytes: usage.bytes, blobBytes: size },
    });
  }

  /** Counts a blob this replica just linked. */
  add(digest: Digest, size: number): void {
    this.#sizes.set(digest, size);
    if (this.#usage === undefined || this.#usage.digests.has(digest)) return;
    this.#usage.digests.add(digest);
    this.#usage.bytes += size;
  }

  async #current(): Promise<{ digests: Set<Digest>; bytes: number; at: number }> {
    if (this.#usage !== undefined && this.#now() - this.#usage.at < this.#refreshMs) return this.#usage;
    this.#measuring ??= this.#measure().finally(() => {
      this.#measuring = undefined;
    });
    this.#usage = await this.#measuring;
    return this.#usage;
  }

  async #measure(): Promise<{ digests: Set<Digest>; bytes: number; at: number }> {
    const at = this.#now();
    const { digests } = await linkedDigests(this.#store, 'hosted', this.#repository);
    const list = [...digests];
    const sizes = await mapLimit(list, 16, async (digest) => {
      const known = this.#sizes.get(digest);
      if (known !== undefined) return known;
      const size = (await this.#store.stat(digest))?.size;
      if (size !== undefined) this.#sizes.set(digest, size);
      return size;
    });
    let bytes = 0;
    const present = new Set<Digest>();
    list.forEach((digest, i) => {
      const size = sizes[i];
      if (size === undefined) return; // linked, but collected or never completed
      present.add(digest);
      bytes += size;
    });
    return { digests: present, bytes, at };
  }
}
