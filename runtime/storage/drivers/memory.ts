/**
 * An in-memory BlobStore: the test double of unit tests that need a store without a disk.
 *
 * It keeps blob bytes in Buffers, so it is for small test blobs only, and never used by `serve`.
 * Apart from that it keeps every promise of the BlobStore contract (verification before
 * visibility, upload offsets, key validation, `listMeta` semantics) and passes the shared
 * conformance suite, so tests written against it hold for the real drivers. Like S3, a key may be
 * both a document and the prefix of other documents. Upload sessions are accounted and swept as
 * in the real drivers (upload-budget.ts), with no timer: tests call {@link MemoryBlobStore.sweep}.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseDigest, verifyContent, verifyHashed } from '../../oci/digest.ts';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  Digest,
  HashedBlobOptions,
  StoredBlob,
  UploadState,
  VersionedMeta,
} from '../blob-store.ts';
import { StorageError } from '../errors.ts';
import { isUploadId, newUploadId, parseMetaKey } from '../keys.ts';
import { UploadBudget } from '../upload-budget.ts';

/** Options of {@link createMemoryBlobStore}. */
export interface MemoryBlobStoreOptions {
  /** The store's plan name (default `memory`). */
  readonly name?: string;
  /** Sessions without activity for longer than this are removed by {@link MemoryBlobStore.sweep} (default 1 h). */
  readonly uploadTimeoutMs?: number;
  /** The cap on the bytes of sessions in progress (default none). */
  readonly maxUploadBytes?: number | null;
  /** The clock of blob write times (`StoredBlob.modifiedAt`); tests move it. Default `Date.now`. */
  readonly now?: () => number;
}

interface MemoryUpload {
  state: UploadState;
  chunks: Buffer[];
  /** Running sha256 and sha512 states, so commit can verify either without re-reading. */
  sha256: Hash;
  sha512: Hash;
  /** An append is running. */
  busy: boolean;
  /** Time of the latest activity (its start, a chunk of an append), ms since the epoch. */
  activeAt: number;
}

/** A fresh, empty in-memory store. Synchronous: there is nothing to open. */
export function createMemoryBlobStore(options: MemoryBlobStoreOptions = {}): MemoryBlobStore {
  return new MemoryBlobStore(options.name ?? 'memory', options);
}

/** See the module comment. */
export class MemoryBlobStore implements BlobStore {
  readonly name: string;
  readonly #blobs = new Map<Digest, Buffer>();
  /** Epoch ms of each visible blob's last write. */
  readonly #modified = new Map<Digest, number>();
  readonly #quarantine = new Map<Digest, { data: Buffer; modifiedAt: number }>();
  readonly #meta = new Map<string, { value: Buffer; version: number }>();
  readonly #uploads = new Map<string, MemoryUpload>();
  readonly #now: () => number;
  #versions = 0;
  readonly #uploadTimeoutMs: number;
  /** What the sessions hold, against `maxUploadBytes`. */
  readonly uploadBudget: UploadBudget;

  constructor(name: string, options: Omit<MemoryBlobStoreOptions, 'name'> = {}) {
    this.name = name;
    this.#now = options.now ?? Date.now;
    this.#uploadTimeoutMs = options.uploadTimeoutMs ?? 3_600_000;
    this.uploadBudget = new UploadBudget(name, options.maxUploadBytes ?? null);
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    parseDigest(digest);
    const data = this.#blobs.get(digest);
    return data === undefined ? undefined : { digest, size: data.length };
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    parseDigest(digest);
    const data = this.#blobs.get(digest);
    if (data === undefined) throw new StorageError('STORAGE_NOT_FOUND', `blob ${digest} not found`);
    const part = range === undefined ? data : data.subarray(range.start, range.end + 1);
    return Readable.from([part], { objectMode: false });
  }

  async delete(digest: Digest): Promise<void> {
    parseDigest(digest);
    this.#blobs.delete(digest);
    this.#modified.delete(digest);
  }

  async *listBlobs(): AsyncIterable<StoredBlob> {
    for (const [digest, data] of [...this.#blobs]) {
      yield { digest, size: data.length, modifiedAt: this.#modified.get(digest) ?? 0 };
    }
  }

  async quarantineBlob(digest: Digest): Promise<boolean> {
    parseDigest(digest);
    const data = this.#blobs.get(digest);
    if (data === undefined) return false;
    this.#quarantine.set(digest, { data, modifiedAt: this.#modified.get(digest) ?? 0 });
    this.#blobs.delete(digest);
    this.#modified.delete(digest);
    return true;
  }

  async restoreBlob(digest: Digest): Promise<boolean> {
    parseDigest(digest);
    if (this.#blobs.has(digest)) {
      this.#quarantine.delete(digest); // the same content is visible again: drop the copy
      return true;
    }
    const held = this.#quarantine.get(digest);
    if (held === undefined) return false;
    this.#quarantine.delete(digest);
    this.#blobs.set(digest, held.data);
    this.#modified.set(digest, held.modifiedAt);
    return true;
  }

  async purgeBlob(digest: Digest): Promise<void> {
    parseDigest(digest);
    this.#quarantine.delete(digest);
  }

  async *listQuarantined(): AsyncIterable<Digest> {
    yield* [...this.#quarantine.keys()];
  }

  async getMetaVersioned(key: string): Promise<VersionedMeta | undefined> {
    parseMetaKey(key);
    const doc = this.#meta.get(key);
    return doc === undefined ? undefined : { value: Buffer.from(doc.value), version: String(doc.version) };
  }

  async putMetaIf(key: string, value: Buffer | string, version: string | null): Promise<boolean> {
    parseMetaKey(key);
    const current = this.#meta.get(key);
    if (version === null ? current !== undefined : current === undefined || String(current.version) !== version) {
      return false;
    }
    this.#setMeta(key, value);
    return true;
  }

  async createUpload(owner: unknown): Promise<UploadState> {
    const id = newUploadId();
    const state: UploadState = { id, offset: 0, startedAt: new Date().toISOString(), owner: structuredClone(owner) };
    this.#uploads.set(id, {
      state,
      chunks: [],
      sha256: createHash('sha256'),
      sha512: createHash('sha512'),
      busy: false,
      activeAt: Date.now(),
    });
    this.uploadBudget.record(id, 0);
    return state;
  }

  async getUpload(id: string): Promise<UploadState | undefined> {
    return isUploadId(id) ? this.#uploads.get(id)?.state : undefined;
  }

  /**
   * Keeps the bytes received before a stream failure (the offset counts them), then rethrows;
   * refused by the cap, keeps none of this append's bytes.
   */
  async appendUpload(id: string, offset: number, body: Readable): Promise<UploadState> {
    const upload = this.#session(id);
    if (offset !== upload.state.offset) {
      body.resume();
      throw new StorageError(
        'STORAGE_UPLOAD_OFFSET',
        `upload ${id} is at offset ${upload.state.offset}, not ${offset}`,
      );
    }
    if (upload.busy) {
      body.resume();
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is receiving another append`);
    }
    // A concurrent append at the same offset must fail, not interleave.
    upload.busy = true;
    const reservation = this.uploadBudget.reserve();
    const kept = upload.chunks.length;
    let received = offset;
    try {
      for await (const chunk of body) {
        const buffer = Buffer.from(chunk as Buffer);
        reservation.take(buffer.length);
        upload.activeAt = Date.now();
        upload.chunks.push(buffer);
        upload.sha256.update(buffer);
        upload.sha512.update(buffer);
        received += buffer.length;
      }
    } catch (error) {
      if (error instanceof StorageError) {
        upload.chunks.length = kept; // refused by the cap: back to the recorded offset
        received = offset;
        upload.sha256 = createHash('sha256').update(Buffer.concat(upload.chunks));
        upload.sha512 = createHash('sha512').update(Buffer.concat(upload.chunks));
      }
      throw error;
    } finally {
      upload.busy = false;
      upload.state = { ...upload.state, offset: received };
      if (this.#uploads.get(id) === upload) this.uploadBudget.record(id, received);
      reservation.release();
    }
    return upload.state;
  }

  /** Removes the sessions without activity since `now - uploadTimeoutMs`, unless an append runs; returns how many. */
  async sweep(now: number = Date.now()): Promise<number> {
    let removed = 0;
    for (const [id, upload] of this.#uploads) {
      if (upload.busy || !(now - upload.activeAt > this.#uploadTimeoutMs)) continue;
      await this.cancelUpload(id);
      removed++;
    }
    return removed;
  }

  async commitUpload(id: string, digest: Digest, expectedSize?: number): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    const upload = this.#session(id);
    if (upload.busy) {
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is receiving data: commit after the append`);
    }
    this.#uploads.delete(id);
    this.uploadBudget.forget(id);
    const actual = `${algorithm}:${upload[algorithm].copy().digest('hex')}`;
    return this.#publish(digest, actual, Buffer.concat(upload.chunks), expectedSize);
  }

  async cancelUpload(id: string): Promise<void> {
    if (this.#uploads.delete(id)) this.uploadBudget.forget(id);
  }

  async putBlob(digest: Digest, body: Readable, expectedSize?: number): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    const hash = createHash(algorithm);
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      const buffer = Buffer.from(chunk as Buffer);
      hash.update(buffer);
      chunks.push(buffer);
    }
    return this.#publish(digest, `${algorithm}:${hash.digest('hex')}`, Buffer.concat(chunks), expectedSize);
  }

  /** Collects the body without hashing it, then checks the caller's result (see the contract). */
  async putHashedBlob(digest: Digest, body: Readable, options: HashedBlobOptions): Promise<BlobInfo> {
    parseDigest(digest);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
    const data = Buffer.concat(chunks);
    verifyHashed(digest, options.hashed(), data.length, options.expectedSize);
    this.#store(digest, data);
    return { digest, size: data.length };
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    parseMetaKey(key);
    const doc = this.#meta.get(key);
    return doc === undefined ? undefined : Buffer.from(doc.value);
  }

  async putMeta(key: string, value: Buffer | string): Promise<void> {
    parseMetaKey(key);
    this.#setMeta(key, value);
  }

  async deleteMeta(key: string): Promise<void> {
    parseMetaKey(key);
    this.#meta.delete(key);
  }

  async listMeta(prefix: string): Promise<string[]> {
    parseMetaKey(prefix, true);
    const start = prefix === '' ? '' : `${prefix}/`;
    const names = new Set<string>();
    for (const key of this.#meta.keys()) {
      if (!key.startsWith(start)) continue;
      names.add(key.slice(start.length).split('/')[0]!);
    }
    return [...names].sort(); // UTF-16 order, which is byte order for keys (ASCII)
  }

  async close(): Promise<void> {}

  #setMeta(key: string, value: Buffer | string): void {
    this.#meta.set(key, { value: Buffer.from(value), version: ++this.#versions });
  }

  /** Stores a verified blob; present content only gets a new write time. */
  #store(digest: Digest, data: Buffer): void {
    if (!this.#blobs.has(digest)) this.#blobs.set(digest, data);
    this.#modified.set(digest, this.#now());
  }

  #session(id: string): MemoryUpload {
    const upload = isUploadId(id) ? this.#uploads.get(id) : undefined;
    if (upload === undefined) throw new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    return upload;
  }

  #publish(digest: Digest, actual: Digest, data: Buffer, expectedSize: number | undefined): BlobInfo {
    verifyContent(digest, { digest: actual, size: data.length }, expectedSize);
    this.#store(digest, data);
    return { digest, size: data.length };
  }
}
