/**
 * The BlobStore conformance suite (runtime/storage/blob-store.ts): every driver runs these same
 * cases, so "a blob store" means one thing whatever holds the bytes.
 *
 * Usage: `describeBlobStore('file', async () => ({ store, cleanup }))` in a test file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../runtime/oci/digest.ts';
import type { BlobStore } from '../../runtime/storage/blob-store.ts';
import { isStorageError, type StorageErrorCode } from '../../runtime/storage/errors.ts';
import { describeBlobLifecycle } from './blob-lifecycle.ts';

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

export { buffer as readAll } from 'node:stream/consumers';
export { digestOf } from '../../runtime/oci/digest.ts';

/** The StorageError code a promise rejects with, or what happened instead. */
export async function codeOf(promise: Promise<unknown>): Promise<StorageErrorCode | 'resolved' | 'other error'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isStorageError(error) ? error.code : 'other error';
  }
}

/** A stream of `total` pseudo-random bytes made chunk by chunk, hashed as it goes. */
function generated(total: number, chunk = MiB): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const block = randomBytes(chunk);
  const stream = Readable.from(
    (function* () {
      while (sent < total) {
        const size = Math.min(chunk, total - sent);
        // Vary each chunk so the content is not periodic.
        const piece = Buffer.from(block.subarray(0, size));
        piece.writeUInt32BE(sent >>> 0, 0);
        hash.update(piece);
        sent += size;
        yield piece;
      }
    })(),
  );
  return { stream, digest: () => `sha256:${hash.digest('hex')}` };
}

/** A body that sends `good`, then is destroyed (with `error`, or without one: an abort). */
export function brokenBody(good: Buffer, error?: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(good);
      setImmediate(() => this.destroy(error));
    },
  });
}

/**
 * Opens stores from `factory` for the tests of the enclosing describe block, and closes and
 * cleans up every store a test opened after it.
 */
export function useStores(factory: () => Promise<BlobStoreFixture>): () => Promise<BlobStore> {
  let fixtures: BlobStoreFixture[] = [];
  afterEach(async () => {
    for (const fixture of fixtures) {
      await fixture.store.close();
      await fixture.cleanup();
    }
    fixtures = [];
  });
  return async () => {
    const fixture = await factory();
    fixtures.push(fixture);
    return fixture.store;
  };
}

export function describeBlobStore(name: string, factory: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const open = useStores(factory);
    describeBlobLifecycle(open);

    it('stores a blob, stats it, reads it whole and by range, deletes it idempotently', async () => {
      const store = await open();
      const data = randomBytes(10_000);
      const digest = digestOf(data);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await store.putBlob(digest, Readable.from([data]), data.length)).toEqual({ digest, size: data.length });
      expect(await store.stat(digest)).toEqual({ digest, size: data.length });
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      expect((await readAll(await store.read(digest, { start: 100, end: 199 }))).equals(data.subarray(100, 200))).toBe(
        true,
      );
      await store.delete(digest);
      await store.delete(digest);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await codeOf(store.read(digest))).toBe('STORAGE_NOT_FOUND');
    });

    it('refuses a blob whose content does not match its digest or size, leaving nothing visible', async () => {
      const store = await open();
      const data = randomBytes(4096);
      const wrong = digestOf(Buffer.from('something else'));
      expect(await codeOf(store.putBlob(wrong, Readable.from([data])))).toBe('STORAGE_DIGEST_MISMATCH');
      expect(await store.stat(wrong)).toBeUndefined();
      const digest = digestOf(data);
      expect(await codeOf(store.putBlob(digest, Readable.from([data]), data.length + 1))).toBe('STORAGE_SIZE_MISMATCH');
      expect(await store.stat(digest)).toBeUndefined();
    });

    it('stores empty and sha512 blobs', async () => {
      const store = await open();
      const empty = Buffer.alloc(0);
      expect(await store.putBlob(digestOf(empty), Readable.from([empty]), 0)).toEqual({
        digest: digestOf(empty),
        size: 0,
      });
      expect((await readAll(await store.read(digestOf(empty)))).length).toBe(0);
      const data = randomBytes(777);
      const sha512 = digestOf(data, 'sha512');
      await store.putBlob(sha512, Readable.from([data]));
      expect(await store.stat(sha512)).toEqual({ digest: sha512, size: 777 });
      expect((await readAll(await store.read(sha512))).equals(data)).toBe(true);
    });

    it('runs a chunked upload: offsets advance, a wrong offset is refused, commit makes the blob visible', async () => {
      const store = await open();
      const data = randomBytes(3 * 100_000);
      const digest = digestOf(data);
      const started = await store.createUpload({ repository: 'r', image: 'i' });
      expect(started.offset).toBe(0);
      expect((await store.getUpload(started.id))?.owner).toEqual({ repository: 'r', image: 'i' });
      let state = await store.appendUpload(started.id, 0, Readable.from([data.subarray(0, 100_000)]));
      expect(state.offset).toBe(100_000);
      expect(await codeOf(store.appendUpload(started.id, 0, Readable.from([data.subarray(0, 10)])))).toBe(
        'STORAGE_UPLOAD_OFFSET',
      );
      state = await store.appendUpload(started.id, 100_000, Readable.from([data.subarray(100_000, 200_000)]));
      state = await store.appendUpload(started.id, 200_000, Readable.from([data.subarray(200_000)]));
      expect((await store.getUpload(started.id))?.offset).toBe(300_000);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await store.commitUpload(started.id, digest, data.length)).toEqual({ digest, size: data.length });
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      expect(await store.getUpload(started.id)).toBeUndefined();
    });

    it('a commit with the wrong digest leaves nothing and ends the session', async () => {
      const store = await open();
      const data = randomBytes(5000);
      const upload = await store.createUpload(null);
      await store.appendUpload(upload.id, 0, Readable.from([data]));
      const wrong = digestOf(Buffer.from('not it'));
      expect(await codeOf(store.commitUpload(upload.id, wrong))).toBe('STORAGE_DIGEST_MISMATCH');
      expect(await store.stat(wrong)).toBeUndefined();
      expect(await store.stat(digestOf(data))).toBeUndefined();
      expect(await store.getUpload(upload.id)).toBeUndefined();
    });

    it('answers unknown upload ids with STORAGE_UPLOAD_UNKNOWN, and cancel is idempotent', async () => {
      const store = await open();
      const unknown = '0123456789abcdef0123456789abcdef';
      expect(await store.getUpload(unknown)).toBeUndefined();
      expect(await codeOf(store.appendUpload(unknown, 0, Readable.from([Buffer.from('x')])))).toBe(
        'STORAGE_UPLOAD_UNKNOWN',
      );
      expect(await codeOf(store.commitUpload(unknown, digestOf(Buffer.from('x'))))).toBe('STORAGE_UPLOAD_UNKNOWN');
      const upload = await store.createUpload(null);
      await store.cancelUpload(upload.id);
      await store.cancelUpload(upload.id);
      expect(await store.getUpload(upload.id)).toBeUndefined();
    });

    it('a body that fails midway leaves no visible blob and a consistent session offset', async () => {
      const store = await open();
      const good = randomBytes(1000);
      const upload = await store.createUpload(null);
      await expect(store.appendUpload(upload.id, 0, brokenBody(good, new Error('client went away')))).rejects.toThrow();
      const state = await store.getUpload(upload.id);
      expect(state).toBeDefined();
      expect([0, good.length]).toContain(state!.offset);
      // The client resumes from the offset it reads back and finishes the blob.
      const rest = good.subarray(state!.offset);
      await store.appendUpload(upload.id, state!.offset, Readable.from([rest]));
      expect(await store.commitUpload(upload.id, digestOf(good))).toEqual({ digest: digestOf(good), size: 1000 });
      const failed = randomBytes(2000);
      await expect(
        store.putBlob(digestOf(failed), brokenBody(failed.subarray(0, 500), new Error('client went away'))),
      ).rejects.toThrow();
      expect(await store.stat(digestOf(failed))).toBeUndefined();
    });

    it('writes the same blob concurrently without corruption', async () => {
      const store = await open();
      const data = randomBytes(256 * 1024);
      const digest = digestOf(data);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => store.putBlob(digest, Readable.from([data]))),
      );
      expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    });

    it('streams a 64 MiB blob in and out', async () => {
      const store = await open();
      const body = generated(64 * MiB);
      const pending = store.createUpload(null);
      const upload = await pending;
      await store.appendUpload(upload.id, 0, body.stream);
      const digest = body.digest();
      expect(await store.commitUpload(upload.id, digest, 64 * MiB)).toEqual({ digest, size: 64 * MiB });
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of await store.read(digest)) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect(size).toBe(64 * MiB);
      expect(`sha256:${hash.digest('hex')}`).toBe(digest);
    }, 120_000);

    it('keeps metadata documents: get, atomic put, delete, list direct children sorted', async () => {
      const store = await open();
      expect(await store.getMeta('a/b/c')).toBeUndefined();
      await store.putMeta('a/b/c', 'one');
      await store.putMeta('a/b/c', Buffer.from('two'));
      expect((await store.getMeta('a/b/c'))?.toString()).toBe('two');
      await store.putMeta('a/b/d', 'x');
      await store.putMeta('a/z', 'y');
      await store.putMeta('a/b%2Fe/f', 'z');
      expect(await store.listMeta('a')).toEqual(['b', 'b%2Fe', 'z']);
      expect(await store.listMeta('a/b')).toEqual(['c', 'd']);
      expect(await store.listMeta('')).toContain('a');
      expect(await store.listMeta('missing')).toEqual([]);
      await store.deleteMeta('a/b/c');
      await store.deleteMeta('a/b/c');
      expect(await store.getMeta('a/b/c')).toBeUndefined();
      expect(await store.listMeta('a/b')).toEqual(['d']);
    });

    it('concurrent puts of one key end with one complete value', async () => {
      const store = await open();
      const values = Array.from({ length: 16 }, (_, i) => `value-${i}-${'x'.repeat(1000)}`);
      await Promise.all(values.map((value) => store.putMeta('tags/latest', value)));
      const final = (await store.getMeta('tags/latest'))?.toString();
      expect(values).toContain(final);
    });

    it('rejects keys that could escape the store', async () => {
      const store = await open();
      for (const key of ['../x', 'a/../../b', 'a//b', '/abs', 'a/./b', 'a b']) {
        expect(await codeOf(store.putMeta(key, 'x')), key).toBe('STORAGE_INVALID_KEY');
      }
    });
  });
}
