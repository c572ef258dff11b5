/**
 * A minimal in-memory BlobStore for the proxy and group unit tests, with the verification
 * guarantees the proxy relies on (a blob is visible only after its digest matched). Stop-gap until
 * runtime/storage/drivers/memory.ts lands; it keeps bytes in memory, so only for small test blobs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { StorageError } from '../../../runtime/errors.ts';
import type { BlobInfo, BlobStore, ByteRange, UploadState } from '../../../runtime/storage/blob-store.ts';

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export function createTestMemoryStore(name = 'memory'): BlobStore & { blobs: Map<string, Buffer> } {
  const blobs = new Map<string, Buffer>();
  const meta = new Map<string, Buffer>();
  const uploads = new Map<string, { state: UploadState; data: Buffer }>();
  const verify = (digest: string, data: Buffer, expectedSize?: number) => {
    const [algorithm, hex] = digest.split(':') as [string, string];
    if (createHash(algorithm).update(data).digest('hex') !== hex) {
      throw new StorageError('STORAGE_DIGEST_MISMATCH', `content does not match ${digest}`);
    }
    if (expectedSize !== undefined && expectedSize !== data.length) {
      throw new StorageError('STORAGE_SIZE_MISMATCH', `expected ${expectedSize} bytes, got ${data.length}`);
    }
  };
  return {
    name,
    blobs,
    async stat(digest) {
      const data = blobs.get(digest);
      return data === undefined ? undefined : { digest, size: data.length };
    },
    async read(digest, range?: ByteRange) {
      const data = blobs.get(digest);
      if (data === undefined) throw new StorageError('STORAGE_NOT_FOUND', `blob ${digest}`);
      return Readable.from([range === undefined ? data : data.subarray(range.start, range.end + 1)]);
    },
    async delete(digest) {
      blobs.delete(digest);
    },
    async createUpload(owner) {
      const state = { id: randomUUID(), offset: 0, startedAt: new Date().toISOString(), owner };
      uploads.set(state.id, { state, data: Buffer.alloc(0) });
      return state;
    },
    async getUpload(id) {
      return uploads.get(id)?.state;
    },
    async appendUpload(id, offset, body) {
      const upload = uploads.get(id);
      if (upload === undefined) throw new StorageError('STORAGE_UPLOAD_UNKNOWN', id);
      if (offset !== upload.state.offset) throw new StorageError('STORAGE_UPLOAD_OFFSET', `${offset}`);
      upload.data = Buffer.concat([upload.data, await collect(body)]);
      upload.state = { ...upload.state, offset: upload.data.length };
      return upload.state;
    },
    async commitUpload(id, digest, expectedSize): Promise<BlobInfo> {
      const upload = uploads.get(id);
      if (upload === undefined) throw new StorageError('STORAGE_UPLOAD_UNKNOWN', id);
      uploads.delete(id);
      verify(digest, upload.data, expectedSize);
      blobs.set(digest, upload.data);
      return { digest, size: upload.data.length };
    },
    async cancelUpload(id) {
      uploads.delete(id);
    },
    async putBlob(digest, body, expectedSize) {
      const data = await collect(body);
      verify(digest, data, expectedSize);
      blobs.set(digest, data);
      return { digest, size: data.length };
    },
    async getMeta(key) {
      return meta.get(key);
    },
    async putMeta(key, value) {
      meta.set(key, Buffer.from(value));
    },
    async deleteMeta(key) {
      meta.delete(key);
    },
    async listMeta(prefix) {
      const base = prefix === '' ? '' : `${prefix}/`;
      const names = new Set<string>();
      for (const key of meta.keys()) if (key.startsWith(base)) names.add(key.slice(base.length).split('/')[0]!);
      return [...names].sort();
    },
    async close() {},
  };
}
