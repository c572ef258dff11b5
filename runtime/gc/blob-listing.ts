/**
 * The blobs of one store as a GC pass holds them: every digest once, with its size and write
 * time in typed arrays. A pass over 100 000 blobs keeps this listing for its whole length, so its
 * shape decides much of the pass's memory (docs/benchmarks.md): an object per blob with two
 * boxed numbers, and a second map of write times, cost about 12 MiB more at that scale.
 *
 * {@link BlobListing.intern} gives the listing's own string for a digest read elsewhere (from a
 * manifest's JSON), so the mark phase keeps one string per digest, not one per mention.
 */
import type { BlobStore, Digest } from '../storage/blob-store.ts';

/** See the module comment. */
export class BlobListing {
  readonly #index = new Map<Digest, number>();
  readonly #digests: Digest[] = [];
  #sizes = new Float64Array(1024);
  #times = new Float64Array(1024);
  #bytes = 0;

  /** Lists every visible blob of `store`. */
  static async of(store: BlobStore): Promise<BlobListing> {
    const listing = new BlobListing();
    for await (const blob of store.listBlobs()) listing.add(blob.digest, blob.size, blob.modifiedAt);
    return listing;
  }

  add(digest: Digest, size: number, modifiedAt: number): void {
    if (this.#index.has(digest)) return;
    const at = this.#digests.length;
    if (at === this.#sizes.length) {
      this.#sizes = grow(this.#sizes);
      this.#times = grow(this.#times);
    }
    const own = flat(digest);
    this.#index.set(own, at);
    this.#digests.push(own);
    this.#sizes[at] = size;
    this.#times[at] = modifiedAt;
    this.#bytes += size;
  }

  get size(): number {
    return this.#digests.length;
  }

  /** Total bytes of the listed blobs. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Size in bytes of a listed blob. */
  sizeOf(digest: Digest): number | undefined {
    const at = this.#index.get(digest);
    return at === undefined ? undefined : this.#sizes[at];
  }

  /** Write time (ms since the epoch) of a listed blob. */
  modifiedAt(digest: Digest): number | undefined {
    const at = this.#index.get(digest);
    return at === undefined ? undefined : this.#times[at];
  }

  /** The listing's string for `digest` when it is listed, else `digest` itself. */
  intern(digest: Digest): Digest {
    const at = this.#index.get(digest);
    return at === undefined ? digest : (this.#digests[at] as Digest);
  }

  /** Every listed blob, in listing order. */
  *entries(): IterableIterator<{ digest: Digest; size: number; modifiedAt: number }> {
    for (let at = 0; at < this.#digests.length; at++)
      yield {
        digest: this.#digests[at] as Digest,
        size: this.#sizes[at] as number,
        modifiedAt: this.#times[at] as number,
      };
  }
}

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * A digest built by concatenation (`${algorithm}:${hex}`, as store listings build them) is a
 * rope in V8: three objects, the "sha256:" among them once per digest. `toLowerCase` flattens it
 * and, digests being lower case already, returns the flat string, so the pieces can be collected
 * (a digest with upper case, which no valid one has, is kept as it came).
 */
function flat(digest: Digest): Digest {
  const lower = digest.toLowerCase();
  return (lower === digest ? lower : digest) as Digest;
}
