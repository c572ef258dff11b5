/**
 * Streaming bytes into S3 multipart uploads, and the server-side helpers around them.
 *
 * Memory contract: a {@link PartSink} holds at most one part (`partSize` bytes, one buffer reused
 * for every part) plus the chunk being added, whatever the blob size. While a part uploads, the
 * source stream is not read (the caller awaits `write`), so back-pressure reaches the client's
 * socket.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { DigestAlgorithm } from '../../../oci/digest.ts';
import { StorageError } from '../../errors.ts';
import { type S3Connection, toStorageError } from './client.ts';

/** S3's limits: parts 1..10000, every part but the last ≥ 5 MiB, CopyObject ≤ 5 GiB. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
const MAX_COPY_OBJECT = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE = 512 * 1024 * 1024;

/** One uploaded part, as recorded in the session document. */
export interface PartRecord {
  readonly n: number;
  readonly etag: string;
  readonly size: number;
}

/**
 * Bytes a sink collects as a list of chunks before it allocates its part buffer: manifests, config
 * blobs and small tails never allocate a whole part.
 */
const SMALL_BYTES = 256 * 1024;

/**
 * Cuts a byte stream into parts of exactly `partSize` for one multipart upload on `key`, creating
 * the multipart upload lazily (small blobs never start one). Bytes short of a full part stay in
 * `pending` for the caller to finish: as the last part, or stored as a tail object.
 *
 * Memory: incoming chunks are copied into **one** part buffer, allocated once per sink and reused
 * for every part it uploads (the upload of a part is awaited before the buffer is refilled, and
 * the SDK has sent every byte of a request once its response arrived). So a sink holds one part
 * whatever the blob size, and a long upload creates no garbage buffers of part size: earlier
 * versions concatenated each part into a fresh buffer, which kept two or three parts alive per
 * upload until the next full GC and grew the RSS by ~100 MiB during a 2 GiB push.
 */
export class PartSink {
  readonly #s3: S3Connection;
  readonly #key: string;
  readonly #partSize: number;
  #uploadId: string | null;
  readonly #parts: PartRecord[];
  /** The part being filled, once more than {@link SMALL_BYTES} arrived; null before. */
  #buffer: Buffer | null = null;
  /** The chunks received while there is no buffer yet (together < SMALL_BYTES). */
  #small: Buffer[] = [];
  #pendingSize = 0;

  constructor(
    s3: S3Connection,
    key: string,
    partSize: number,
    existing: { uploadId: string | null; parts: readonly PartRecord[] },
  ) {
    this.#s3 = s3;
    this.#key = key;
    this.#partSize = Math.max(partSize, MIN_PART_SIZE);
    this.#uploadId = existing.uploadId;
    this.#parts = [...existing.parts];
  }

  get uploadId(): string | null {
    return this.#uploadId;
  }
  get parts(): readonly PartRecord[] {
    return this.#parts;
  }
  get pendingSize(): number {
    return this.#pendingSize;
  }
  /** The bytes not yet in a part: a view of the part buffer, valid until the next `write`. */
  pending(): Buffer {
    if (this.#buffer !== null) return this.#buffer.subarray(0, this.#pendingSize);
    return this.#small.length === 1 ? this.#small[0]! : Buffer.concat(this.#small, this.#pendingSize);
  }

  /**
   * Adds bytes (copied: the caller may reuse `chunk`, except below {@link SMALL_BYTES} where it is
   * kept as is); uploads every full part they complete before returning.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.#buffer === null) {
      if (this.#pendingSize + chunk.length < SMALL_BYTES) {
        if (chunk.length > 0) this.#small.push(chunk);
        this.#pendingSize += chunk.length;
        return;
      }
      this.#buffer = Buffer.allocUnsafeSlow(this.#partSize);
      let filled = 0;
      for (const small of this.#small) filled += small.copy(this.#buffer, filled);
      this.#small = [];
    }
    const buffer = this.#buffer;
    for (let offset = 0; offset < chunk.length; ) {
      const copied = chunk.copy(buffer, this.#pendingSize, offset);
      offset += copied;
      this.#pendingSize += copied;
      if (this.#pendingSize === this.#partSize) {
        await this.uploadPart(buffer);
        this.#pendingSize = 0;
      }
    }
  }

  /** Uploads `body` as the next part (the last one may be small), starting the upload if needed. */
  async uploadPart(body: Buffer): Promise<void> {
    const uploadId = await this.#ensureStarted();
    const n = this.#parts.length + 1;
    if (n > MAX_PARTS) throw new StorageError('STORAGE_IO', `s3: more than ${MAX_PARTS} parts; raise partSize`);
    try {
      const result = await this.#s3.client.send(
        new UploadPartCommand({
          Bucket: this.#s3.bucket,
          Key: this.#key,
          UploadId: uploadId,
          PartNumber: n,
          Body: body,
          ContentLength: body.length,
        }),
      );
      this.#parts.push({ n, etag: result.ETag ?? '', size: body.length });
    } catch (error) {
      throw toStorageError(error, `upload part ${n} of ${this.#key}`);
    }
  }

  /** Server-side: appends the object `sourceKey` (`size` bytes, or its `range`) as the next part. */
  async copyPart(sourceKey: string, size: number, range?: { start: number; end: number }): Promise<void> {
    const uploadId = await this.#ensureStarted();
    const n = this.#parts.length + 1;
    try {
      const result = await this.#s3.client.send(
        new UploadPartCopyCommand({
          Bucket: this.#s3.bucket,
          Key: this.#key,
          UploadId: uploadId,
          PartNumber: n,
          CopySource: copySource(this.#s3.bucket, sourceKey),
          CopySourceRange: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      this.#parts.push({ n, etag: result.CopyPartResult?.ETag ?? '', size });
    } catch (error) {
      throw toStorageError(error, `copy part ${n} of ${this.#key}`);
    }
  }

  /** Completes the multipart upload: only now does `key` become visible. */
  async complete(): Promise<void> {
    if (this.#uploadId === null) throw new StorageError('STORAGE_IO', 's3: complete without a multipart upload');
    try {
      await this.#s3.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#s3.bucket,
          Key: this.#key,
          UploadId: this.#uploadId,
          MultipartUpload: { Parts: this.#parts.map((part) => ({ PartNumber: part.n, ETag: part.etag })) },
        }),
      );
    } catch (error) {
      throw toStorageError(error, `complete ${this.#key}`);
    }
  }

  /** Discards the multipart upload and its parts; idempotent, never throws. */
  async abort(): Promise<void> {
    if (this.#uploadId === null) return;
    await abortMultipart(this.#s3, this.#key, this.#uploadId);
  }

  async #ensureStarted(): Promise<string> {
    if (this.#uploadId !== null) return this.#uploadId;
    try {
      const created = await this.#s3.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.#s3.bucket,
          Key: this.#key,
          ContentType: 'application/octet-stream',
        }),
      );
      if (!created.UploadId) throw new StorageError('STORAGE_IO', `s3: no UploadId for ${this.#key}`);
      this.#uploadId = created.UploadId;
      return created.UploadId;
    } catch (error) {
      throw toStorageError(error, `start multipart upload of ${this.#key}`);
    }
  }
}

/** Aborts one multipart upload; failures (already gone, …) are ignored: the sweep retries. */
export async function abortMultipart(s3: S3Connection, key: string, uploadId: string): Promise<void> {
  await s3.client
    .send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId }))
    .catch(() => undefined);
}

/** The `CopySource` header value: bucket and key, URL-encoded per segment. */
export function copySource(bucket: string, key: string): string {
  return `${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Hashes an object by streaming it back; the re-hash path when no in-process hash state exists. */
export async function hashObject(
  s3: S3Connection,
  key: string,
  algorithm: DigestAlgorithm,
): Promise<{ hex: string; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  try {
    const result = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    for await (const chunk of result.Body as Readable) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (error) {
    throw toStorageError(error, `re-hash ${key}`);
  }
  return { hex: hash.digest('hex'), size };
}

/**
 * Server-side copy of `size` bytes from `from` to `to`: one CopyObject up to 5 GiB, a multipart
 * copy in 512 MiB ranges above. No byte passes through this process either way.
 */
export async function copyObject(s3: S3Connection, from: string, to: string, size: number): Promise<void> {
  try {
    if (size <= MAX_COPY_OBJECT) {
      await s3.client.send(
        new CopyObjectCommand({
          Bucket: s3.bucket,
          Key: to,
          CopySource: copySource(s3.bucket, from),
          MetadataDirective: 'COPY',
        }),
      );
      return;
    }
  } catch (error) {
    throw toStorageError(error, `copy ${from} to ${to}`);
  }
  const sink = new PartSink(s3, to, COPY_PART_SIZE, { uploadId: null, parts: [] });
  try {
    for (let start = 0; start < size; start += COPY_PART_SIZE) {
      const end = Math.min(size, start + COPY_PART_SIZE) - 1;
      await sink.copyPart(from, end - start + 1, { start, end });
    }
    await sink.complete();
  } catch (error) {
    await sink.abort();
    throw toStorageError(error, `multipart copy ${from} to ${to}`);
  }
}
