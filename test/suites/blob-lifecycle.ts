/**
 * Conformance cases of `BlobLifecycle` (runtime/storage/blob-store.ts): listing, quarantine,
 * restore, purge and the compare-and-swap of metadata. Run by describeBlobStore for every driver.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../../runtime/oci/digest.ts';
import type { BlobStore, StoredBlob } from '../../runtime/storage/blob-store.ts';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function put(store: BlobStore, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  await store.putBlob(digest, Readable.from([data]), data.length);
  return digest;
}

export function describeBlobLifecycle(open: () => Promise<BlobStore>): void {
  describe('lifecycle (garbage collection)', () => {
    it('lists every visible blob with its size and a write time, and nothing else', async () => {
      const store = await open();
      const before = Date.now() - 5_000;
      const a = randomBytes(1000);
      const b = randomBytes(3000);
      const [da, db] = [await put(store, a), await put(store, b)];
      await store.putMeta('repositories/x/_catalog/y', 'not a blob');
      const id = (await store.createUpload({})).id;
      await store.appendUpload(id, 0, Readable.from([randomBytes(100)]));
      const listed = (await collect(store.listBlobs())).sort((x, y) => x.size - y.size);
      expect(listed.map((blob) => ({ digest: blob.digest, size: blob.size }))).toEqual([
        { digest: da, size: 1000 },
        { digest: db, size: 3000 },
      ]);
      for (const blob of listed) {
        expect(blob.modifiedAt).toBeGreaterThan(before);
        expect(blob.modifiedAt).toBeLessThan(Date.now() + 5_000);
      }
    });

    it('a re-put of present content counts as a new write', async () => {
      const store = await open();
      const data = randomBytes(500);
      const digest = await put(store, data);
      const first = (await collect(store.listBlobs()))[0] as StoredBlob;
      await new Promise((resolve) => setTimeout(resolve, 1100)); // S3 LastModified has 1 s resolution
      await put(store, data);
      const second = (await collect(store.listBlobs()))[0] as StoredBlob;
      expect(second.digest).toBe(digest);
      expect(second.modifiedAt).toBeGreaterThan(first.modifiedAt);
    });

    it('quarantine hides a blob, keeps its bytes, and restore brings them back', async () => {
      const store = await open();
      const data = randomBytes(20_000);
      const digest = await put(store, data);
      expect(await store.quarantineBlob(digest)).toBe(true);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await collect(store.listBlobs())).toEqual([]);
      expect(await collect(store.listQuarantined())).toEqual([digest]);
      expect(await store.quarantineBlob(digest)).toBe(false);
      expect(await store.restoreBlob(digest)).toBe(true);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      expect(await collect(store.listQuarantined())).toEqual([]);
      expect(await store.restoreBlob(digest)).toBe(true); // visible: nothing to do
    });

    it('restore of a blob pushed anew meanwhile keeps the visible copy and drops the quarantined one', async () => {
      const store = await open();
      const data = randomBytes(900);
      const digest = await put(store, data);
      await store.quarantineBlob(digest);
      await put(store, data); // a client uploads the same content again
      expect(await store.restoreBlob(digest)).toBe(true);
      expect(await collect(store.listQuarantined())).toEqual([]);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    });

    it('purge deletes only the quarantined copy; restore after a purge answers false', async () => {
      const store = await open();
      const data = randomBytes(700);
      const digest = await put(store, data);
      await store.quarantineBlob(digest);
      await store.purgeBlob(digest);
      await store.purgeBlob(digest);
      expect(await store.restoreBlob(digest)).toBe(false);
      expect(await store.stat(digest)).toBeUndefined();
      // a purge never touches a visible blob
      await put(store, data);
      await store.purgeBlob(digest);
      expect(await store.stat(digest)).toEqual({ digest, size: 700 });
    });

    it('a stream opened before the quarantine reads to its end', async () => {
      const store = await open();
      const data = randomBytes(3 * 1024 * 1024);
      const digest = await put(store, data);
      const stream = await store.read(digest);
      await store.quarantineBlob(digest);
      await store.purgeBlob(digest);
      expect((await readAll(stream)).equals(data)).toBe(true);
    });

    it('putMetaIf creates only when absent and replaces only at the version read', async () => {
      const store = await open();
      const key = 'gc/lease';
      expect(await store.getMetaVersioned(key)).toBeUndefined();
      expect(await store.putMetaIf(key, 'one', null)).toBe(true);
      expect(await store.putMetaIf(key, 'two', null)).toBe(false);
      const first = await store.getMetaVersioned(key);
      expect(first?.value.toString()).toBe('one');
      expect(await store.putMetaIf(key, 'two', first!.version)).toBe(true);
      expect(await store.putMetaIf(key, 'three', first!.version)).toBe(false);
      const second = await store.getMetaVersioned(key);
      expect(second?.value.toString()).toBe('two');
      expect(second?.version).not.toBe(first?.version);
      expect((await store.getMeta(key))?.toString()).toBe('two');
    });

    it('concurrent putMetaIf at one version: exactly one wins', async () => {
      const store = await open();
      const key = 'gc/race';
      await store.putMeta(key, 'start');
      const { version } = (await store.getMetaVersioned(key))!;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.putMetaIf(key, `writer-${i}`, version)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await store.getMeta(key))?.toString()).toBe(`writer-${winner}`);
    });
  });
}
