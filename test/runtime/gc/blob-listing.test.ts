import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobListing } from '../../../runtime/gc/blob-listing.ts';
import type { Digest } from '../../../runtime/storage/blob-store.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';

const hex = (n: number) => n.toString(16).padStart(64, '0');
/** A digest built the way store listings build them: by concatenation. */
const built = (n: number) => `${'sha256'}:${hex(n)}` as Digest;

describe('BlobListing', () => {
  it('holds every blob once with its size and write time, past its initial capacity', () => {
    const listing = new BlobListing();
    for (let n = 0; n < 3000; n++) listing.add(built(n), n * 10, 1_000_000 + n);
    listing.add(built(7), 999, 999); // listed twice: the first stays
    expect(listing.size).toBe(3000);
    expect(listing.bytes).toBe(10 * ((2999 * 3000) / 2));
    expect(listing.modifiedAt(built(2999))).toBe(1_002_999);
    expect(listing.modifiedAt(built(7))).toBe(1_000_007);
    expect(listing.sizeOf(built(3000))).toBeUndefined();
    expect(listing.modifiedAt(built(3000))).toBeUndefined();
    const entries = [...listing.entries()];
    expect(entries).toHaveLength(3000);
    expect(entries[2500]).toEqual({ digest: built(2500), size: 25_000, modifiedAt: 1_002_500 });
  });

  it('interns a digest read elsewhere as its own string, and leaves an unlisted one as it is', () => {
    const listing = new BlobListing();
    listing.add(built(1), 1, 1);
    const fromJson = (JSON.parse(`["sha256:${hex(1)}"]`) as Digest[])[0] as Digest;
    const own = listing.intern(fromJson);
    expect(own).toBe(fromJson); // equal as strings
    expect(own).toBe([...listing.entries()][0]?.digest);
    const unlisted = `sha256:${hex(2)}` as Digest;
    expect(listing.intern(unlisted)).toBe(unlisted);
  });

  it('keeps a digest with upper case exactly as listed (it is never folded to another blob)', () => {
    const listing = new BlobListing();
    const odd = `sha256:${'A'.repeat(64)}` as Digest;
    listing.add(odd, 5, 5);
    expect(listing.sizeOf(odd)).toBe(5);
    expect(listing.sizeOf(odd.toLowerCase() as Digest)).toBeUndefined();
    expect([...listing.entries()][0]?.digest).toBe(odd);
  });

  it('lists a store: every visible blob with its size', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    expect((await BlobListing.of(store)).size).toBe(0);
    const digests: Digest[] = [];
    for (const content of ['one', 'three']) {
      const digest = `sha256:${createHash('sha256').update(content).digest('hex')}` as Digest;
      await store.putBlob(digest, Readable.from([Buffer.from(content)]));
      digests.push(digest);
    }
    const listing = await BlobListing.of(store);
    expect(listing.size).toBe(2);
    expect(listing.bytes).toBe(8);
    expect(new Map([...listing.entries()].map((e) => [e.digest, e.size]))).toEqual(
      new Map([
        [digests[0], 3],
        [digests[1], 5],
      ]),
    );
    expect(listing.modifiedAt(digests[0] as Digest)).toBeGreaterThan(0);
    expect(listing.sizeOf(digests[1] as Digest)).toBe(5);
    expect(listing.sizeOf(`sha256:${hex(9)}` as Digest)).toBeUndefined();
  });
});
