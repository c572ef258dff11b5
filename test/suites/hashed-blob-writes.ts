/**
 * Conformance cases of the optional `BlobStore.putHashedBlob` (runtime/storage/blob-store.ts):
 * every driver that offers it runs these, beside `describeBlobStore`. The caller's hash stands in
 * for the store's, so what matters is that nothing becomes visible unless that hash names the
 * digest and covers exactly the bytes the store received, and that a failed or aborted body, a
 * mismatch or a throwing `hashed()` leave nothing behind.
 *
 * Usage: `describeHashedBlobWrites('file', factory, { leftovers })`, where `leftovers(store)` lists
 * what the driver keeps besides visible blobs (temp files), so the suite can check it is empty.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { BlobInfo, BlobStore } from '../../runtime/storage/blob-store.ts';
import { type BlobStoreFixture, brokenBody, codeOf, digestOf, readAll, useStores } from './blob-store.ts';

/** What the suite needs besides a fresh store. */
export interface HashedWritesOptions {
  /** Names of temporary objects the driver still holds (must be none after every write). */
  leftovers(store: BlobStore): Promise<string[]>;
}

/** The store's `putHashedBlob`, failing the test when the driver lacks it. */
function hashedWrite(store: BlobStore) {
  const put = store.putHashedBlob?.bind(store);
  if (put === undefined) throw new Error(`store ${store.name} has no putHashedBlob`);
  return put;
}

export function describeHashedBlobWrites(
  name: string,
  factory: () => Promise<BlobStoreFixture>,
  options: HashedWritesOptions,
): void {
  describe(`BlobStore.putHashedBlob conformance: ${name}`, () => {
    const open = useStores(factory);
    const honest = (data: Buffer, expectedSize?: number): { hashed: () => BlobInfo; expectedSize?: number } => ({
      hashed: vi.fn(() => ({ digest: digestOf(data), size: data.length })),
      expectedSize,
    });

    it('stores a blob with the caller’s hash, asking for it once, after the body ended', async () => {
      const store = await open();
      const data = randomBytes(300_000);
      const digest = digestOf(data);
      const write = honest(data, data.length);
      let ended = false;
      const body = Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]).on('end', () => {
        ended = true;
      });
      const hashed = write.hashed;
      write.hashed = vi.fn(() => {
        expect(ended).toBe(true);
        return hashed();
      });
      expect(await hashedWrite(store)(digest, body, write)).toEqual({ digest, size: data.length });
      expect(write.hashed).toHaveBeenCalledTimes(1);
      expect(await store.stat(digest)).toEqual({ digest, size: data.length });
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      expect(await options.leftovers(store)).toEqual([]);
      // Again, now that the blob is there: same answer, still one copy.
      expect(await hashedWrite(store)(digest, Readable.from([data]), honest(data))).toEqual({ digest, size: 300_000 });
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    });

    it('stores an empty blob', async () => {
      const store = await open();
      const empty = Buffer.alloc(0);
      const digest = digestOf(empty);
      expect(await hashedWrite(store)(digest, Readable.from([empty]), honest(empty, 0))).toEqual({ digest, size: 0 });
      expect(await store.stat(digest)).toEqual({ digest, size: 0 });
    });

    it('refuses a caller hash naming another digest, leaving nothing', async () => {
      const store = await open();
      const data = randomBytes(50_000);
      const digest = digestOf(data);
      const other = randomBytes(50_000);
      expect(await codeOf(hashedWrite(store)(digest, Readable.from([data]), honest(other)))).toBe(
        'STORAGE_DIGEST_MISMATCH',
      );
      expect(await store.stat(digest)).toBeUndefined();
      expect(await store.stat(digestOf(other))).toBeUndefined();
      expect(await options.leftovers(store)).toEqual([]);
    });

    it('refuses when the caller hashed other bytes than the store received, or the size is not the announced one', async () => {
      const store = await open();
      const data = randomBytes(20_000);
      const digest = digestOf(data);
      // The caller claims the right digest but the body carried one byte less.
      const short = hashedWrite(store)(digest, Readable.from([data.subarray(1)]), honest(data));
      expect(await codeOf(short)).toBe('STORAGE_SIZE_MISMATCH');
      expect(await store.stat(digest)).toBeUndefined();
      const announced = hashedWrite(store)(digest, Readable.from([data]), honest(data, data.length + 1));
      expect(await codeOf(announced)).toBe('STORAGE_SIZE_MISMATCH');
      expect(await store.stat(digest)).toBeUndefined();
      expect(await options.leftovers(store)).toEqual([]);
    });

    it('a body that fails or is aborted midway rejects with its own error, never asks for the hash, leaves nothing', async () => {
      const store = await open();
      const data = randomBytes(64 * 1024);
      const digest = digestOf(data);
      const broken = new Error('upstream went away');
      const failing = honest(data);
      await expect(hashedWrite(store)(digest, brokenBody(data.subarray(0, 1000), broken), failing)).rejects.toBe(
        broken,
      );
      const aborting = honest(data);
      await expect(hashedWrite(store)(digest, brokenBody(data.subarray(0, 1000)), aborting)).rejects.toThrow();
      expect(failing.hashed).not.toHaveBeenCalled();
      expect(aborting.hashed).not.toHaveBeenCalled();
      expect(await store.stat(digest)).toBeUndefined();
      expect(await options.leftovers(store)).toEqual([]);
    });

    it('rethrows what hashed() throws, leaving nothing', async () => {
      const store = await open();
      const data = randomBytes(10_000);
      const digest = digestOf(data);
      const refusal = new Error('the upstream body hashed to something else');
      const put = hashedWrite(store)(digest, Readable.from([data]), {
        hashed: () => {
          throw refusal;
        },
      });
      await expect(put).rejects.toBe(refusal);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await options.leftovers(store)).toEqual([]);
    });

    it('writes the same blob concurrently without corruption', async () => {
      const store = await open();
      const data = randomBytes(256 * 1024);
      const digest = digestOf(data);
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, () => hashedWrite(store)(digest, Readable.from([data]), honest(data))),
      );
      expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      expect(await options.leftovers(store)).toEqual([]);
    });
  });
}
