/**
 * The BlobStore contract (runtime/storage/blob-store.ts) checked on the s3 driver against a real
 * Ceph RADOS Gateway, edge by edge: absent things, idempotent deletes, offsets, size and digest
 * mismatches, empty and sha512 blobs, metadata listing. The shared conformance suite
 * (test/suites/blob-store.ts) runs in s3-conformance.test.ts once it exists; this file pins the
 * cases that exercise s3-specific paths (tails, lazy multipart, server-side copy).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3BlobStore, type S3BlobStore } from '../../../../runtime/storage/drivers/s3/s3.ts';
import { isStorageError, type StorageErrorCode } from '../../../../runtime/storage/errors.ts';
import { type CephS3, s3StorePlan, startCeph } from '../../../helpers/ceph.ts';

const MiB = 1024 * 1024;
let ceph: CephS3;
let store: S3BlobStore;

beforeAll(async () => {
  ceph = await startCeph();
  store = await createS3BlobStore(s3StorePlan(), { env: ceph.env, sweepIntervalMs: 0 });
}, 180_000);

afterAll(async () => {
  await store?.close();
  await ceph?.stop();
}, 60_000);

const digest = (data: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256') =>
  `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function code(promise: Promise<unknown>): Promise<StorageErrorCode | 'resolved' | 'not a StorageError'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isStorageError(error) ? error.code : 'not a StorageError';
  }
}

describe('s3 driver: BlobStore contract edges', () => {
  it('absent blobs: stat undefined, read STORAGE_NOT_FOUND, delete idempotent', async () => {
    const missing = digest(randomBytes(8));
    expect(await store.stat(missing)).toBeUndefined();
    expect(await code(store.read(missing))).toBe('STORAGE_NOT_FOUND');
    await store.delete(missing);
    const data = randomBytes(100);
    await store.putBlob(digest(data), Readable.from([data]));
    await store.delete(digest(data));
    await store.delete(digest(data));
    expect(await store.stat(digest(data))).toBeUndefined();
  });

  it('unknown sessions: get undefined, append/commit STORAGE_UPLOAD_UNKNOWN, cancel idempotent', async () => {
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', 'not/an/id']) {
      expect(await store.getUpload(id)).toBeUndefined();
      expect(await code(store.appendUpload(id, 0, Readable.from([Buffer.from('x')])))).toBe('STORAGE_UPLOAD_UNKNOWN');
      expect(await code(store.commitUpload(id, digest(Buffer.from('x'))))).toBe('STORAGE_UPLOAD_UNKNOWN');
      await store.cancelUpload(id);
    }
    const session = await store.createUpload({ repository: 'r', image: 'i' });
    expect(session).toMatchObject({ offset: 0, owner: { repository: 'r', image: 'i' } });
    expect(Date.now() - Date.parse(session.startedAt)).toBeLessThan(60_000);
    await store.cancelUpload(session.id);
    await store.cancelUpload(session.id);
    expect(await store.getUpload(session.id)).toBeUndefined();
  });

  it('a wrong offset is STORAGE_UPLOAD_OFFSET and changes nothing', async () => {
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([Buffer.alloc(10, 1)]));
    expect(await code(store.appendUpload(session.id, 0, Readable.from([Buffer.alloc(10, 2)])))).toBe(
      'STORAGE_UPLOAD_OFFSET',
    );
    expect(await code(store.appendUpload(session.id, 11, Readable.from([Buffer.alloc(10, 2)])))).toBe(
      'STORAGE_UPLOAD_OFFSET',
    );
    expect((await store.getUpload(session.id))?.offset).toBe(10);
    const whole = Buffer.alloc(10, 1);
    expect(await store.commitUpload(session.id, digest(whole))).toEqual({ digest: digest(whole), size: 10 });
  });

  it('a size mismatch at commit is STORAGE_SIZE_MISMATCH and leaves nothing', async () => {
    const data = randomBytes(6 * MiB);
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([data]));
    expect(await code(store.commitUpload(session.id, digest(data), data.length + 1))).toBe('STORAGE_SIZE_MISMATCH');
    expect(await store.stat(digest(data))).toBeUndefined();
    expect(await store.getUpload(session.id)).toBeUndefined();
    expect(await code(store.putBlob(digest(data), Readable.from([data]), 5))).toBe('STORAGE_SIZE_MISMATCH');
    expect(await store.stat(digest(data))).toBeUndefined();
  });

  it('empty blobs, sha512 digests and many small PATCHes across a part boundary', async () => {
    const empty = Buffer.alloc(0);
    const session = await store.createUpload(null);
    expect(await store.commitUpload(session.id, digest(empty))).toEqual({ digest: digest(empty), size: 0 });
    expect((await bytes(await store.read(digest(empty)))).length).toBe(0);

    const data = randomBytes(5 * MiB + 300 * 1024 + 2);
    const chunked = await store.createUpload(null);
    let offset = 0;
    for (const size of [1, 100 * 1024, 3 * MiB, 2 * MiB, 0, 200 * 1024]) {
      const state = await store.appendUpload(chunked.id, offset, Readable.from([data.subarray(offset, offset + size)]));
      offset += size;
      expect(state.offset).toBe(offset);
    }
    const rest = data.subarray(offset);
    await store.appendUpload(chunked.id, offset, Readable.from([rest]));
    expect(await store.commitUpload(chunked.id, digest(data, 'sha512'), data.length)).toEqual({
      digest: digest(data, 'sha512'),
      size: data.length,
    });
    expect((await bytes(await store.read(digest(data, 'sha512')))).equals(data)).toBe(true);
    expect((await store.stat(digest(data, 'sha512')))?.size).toBe(data.length);
  });

  it('committing a blob that already exists succeeds and keeps it intact', async () => {
    const data = randomBytes(7 * MiB);
    await store.putBlob(digest(data), Readable.from([data]));
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([data]));
    expect(await store.commitUpload(session.id, digest(data))).toEqual({ digest: digest(data), size: data.length });
    expect((await bytes(await store.read(digest(data)))).equals(data)).toBe(true);
  });

  it('metadata: get/put/delete, listing direct children sorted without duplicates', async () => {
    expect(await store.getMeta('none/here')).toBeUndefined();
    await store.putMeta('r/img/tags/v2', 'b');
    await store.putMeta('r/img/tags/v10', Buffer.from('a'));
    await store.putMeta('r/img/tags', 'a document beside a folder of the same name');
    await store.putMeta('r/img/links/sha256/abc', '');
    expect(await store.listMeta('r/img')).toEqual(['links', 'tags']);
    expect(await store.listMeta('r/img/tags')).toEqual(['v10', 'v2']);
    expect(await store.listMeta('r')).toEqual(['img']);
    expect(await store.listMeta('nothing')).toEqual([]);
    expect((await store.getMeta('r/img/tags/v2'))?.toString()).toBe('b');
    expect((await store.getMeta('r/img/links/sha256/abc'))?.length).toBe(0);
    await store.putMeta('r/img/tags/v2', 'c');
    expect((await store.getMeta('r/img/tags/v2'))?.toString()).toBe('c');
    await store.deleteMeta('r/img/tags/v2');
    await store.deleteMeta('r/img/tags/v2');
    expect(await store.listMeta('r/img/tags')).toEqual(['v10']);
    expect(await code(store.putMeta('../escape', 'x'))).toBe('STORAGE_INVALID_KEY');
    expect(await code(store.listMeta('a//b'))).toBe('STORAGE_INVALID_KEY');
  });
});
