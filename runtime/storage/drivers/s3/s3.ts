/**
 * The s3 blob store: blobs, upload sessions and metadata in one S3 bucket (AWS S3 or any
 * S3-compatible server: MinIO, Ceph RGW …), under the plan's `prefix` (layout: ./s3-layout.ts).
 *
 * All state lives in the bucket, so N stateless replicas can share one store: a blob pushed
 * through one is pulled through another, and a chunked upload may hop between them
 * (./s3-uploads.ts). What a replica keeps in memory is only an optimisation (the running hash of
 * uploads it saw entirely); losing it costs a re-read at commit, never correctness.
 *
 * Whole-blob writes (`putBlob`) start a multipart upload on the blob's final key, stream parts
 * while hashing, and complete it only after the digest matched: no temporary object, no copy.
 * A blob smaller than one part is verified in memory (≤ partSize) and written with one PUT.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { FastifyBaseLogger } from 'fastify';
import { type S3BlobStorePlan, uploadsOf } from '../../../../compiler/plan.ts';
import { parseDigest, verifyContent } from '../../../oci/digest.ts';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  Digest,
  StoredBlob,
  UploadState,
  VersionedMeta,
} from '../../blob-store.ts';
import { nameFullStore, StorageError } from '../../errors.ts';
import { PeriodicTask } from '../../periodic.ts';
import { UploadBudget, uploadSweepPeriodMs } from '../../upload-budget.ts';
import { createS3Connection, isNotFound, presignGet, type S3Connection, toStorageError } from './client.ts';
import { S3Layout } from './layout.ts';
import { S3Lifecycle } from './lifecycle.ts';
import { S3Meta } from './meta.ts';
import { MIN_PART_SIZE, PartSink } from './parts.ts';
import { type ListedMultipart, S3Uploads } from './uploads.ts';

/** Options of {@link createS3BlobStore}; `env` resolves the plan's secret references. */
export interface S3BlobStoreOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly log?: FastifyBaseLogger;
  /**
   * How often this instance sweeps abandoned uploads and recounts what the sessions hold
   * (default: from the plan's upload timeout, see `uploadSweepPeriodMs`; 0 = never, tests).
   */
  readonly sweepIntervalMs?: number;
}

/** Presigned redirect URLs stay valid this long: enough for a slow layer download to start. */
const REDIRECT_TTL_SECONDS = 20 * 60;

/**
 * Connects to the bucket (one HeadBucket, so a wrong endpoint, bucket or key fails here and not on
 * the first push), sweeps the upload sessions once (which counts them) and returns the store.
 */
export async function createS3BlobStore(plan: S3BlobStorePlan, options: S3BlobStoreOptions): Promise<S3BlobStore> {
  const connection = createS3Connection(plan, { env: options.env });
  try {
    await connection.client.send(new HeadBucketCommand({ Bucket: connection.bucket }));
  } catch (error) {
    connection.destroy();
    const reason = toStorageError(error, `bucket "${connection.bucket}"`);
    throw new StorageError('STORAGE_IO', `blob store "${plan.name}": cannot reach its bucket: ${reason.message}`, {
      cause: error,
    });
  }
  const store = new S3BlobStore(plan, connection, options);
  // The first sweep at once, so the cap counts the sessions already in the bucket from the start.
  await store
    .sweepUploads()
    .catch((error: unknown) =>
      options.log?.warn({ err: error, store: plan.name }, 's3 upload sweep failed; the next one counts the sessions'),
    );
  return store;
}

export class S3BlobStore implements BlobStore {
  readonly name: string;
  readonly #plan: S3BlobStorePlan;
  readonly #s3: S3Connection;
  readonly #layout: S3Layout;
  readonly #uploads: S3Uploads;
  readonly #meta: S3Meta;
  readonly #lifecycle: S3Lifecycle;
  readonly #log: FastifyBaseLogger | undefined;
  readonly #uploadTimeoutMs: number;
  readonly #budget: UploadBudget;
  readonly #sweeper: PeriodicTask | undefined;

  constructor(plan: S3BlobStorePlan, connection: S3Connection, options: S3BlobStoreOptions) {
    this.name = plan.name;
    this.#plan = plan;
    this.#s3 = connection;
    this.#layout = new S3Layout(plan.prefix);
    this.#meta = new S3Meta(connection, this.#layout);
    const uploads = uploadsOf(plan);
    this.#uploadTimeoutMs = uploads.timeoutMs;
    this.#budget = new UploadBudget(plan.name, uploads.maxBytes);
    const period = uploadSweepPeriodMs(uploads.timeoutMs);
    this.#uploads = new S3Uploads(connection, this.#layout, {
      partSize: Math.max(plan.partSize, MIN_PART_SIZE),
      budget: this.#budget,
      heartbeatMs: period,
    });
    this.#lifecycle = new S3Lifecycle(connection, this.#layout);
    this.#log = options.log;
    const every = options.sweepIntervalMs ?? period;
    if (every > 0) {
      this.#sweeper = new PeriodicTask(
        every,
        async () => void (await this.sweepUploads()),
        (error) => this.#log?.warn({ err: error, store: this.name }, 's3 upload sweep failed'),
      );
    }
  }

  /**
   * The uploads in progress as this instance counts them: exact for its own sessions, the other
   * replicas' as of the latest sweep (see upload-budget.ts).
   */
  get uploadBudget(): UploadBudget {
    return this.#budget;
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const head = await this.#s3.client.send(
        new HeadObjectCommand({ Bucket: this.#s3.bucket, Key: this.#layout.blob(digest) }),
      );
      return { digest, size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toStorageError(error, `stat ${digest}`);
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      const result = await this.#s3.client.send(
        new GetObjectCommand({
          Bucket: this.#s3.bucket,
          Key: this.#layout.blob(digest),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      return result.Body as Readable;
    } catch (error) {
      throw toStorageError(error, `read ${digest}`);
    }
  }

  /** A presigned GET when the plan says `redirect: true`; the caller checked the blob exists. */
  async redirectUrl(digest: Digest): Promise<string | undefined> {
    if (!this.#plan.redirect) return undefined;
    return presignGet(this.#s3, this.#layout.blob(digest), REDIRECT_TTL_SECONDS);
  }

  async delete(digest: Digest): Promise<void> {
    await this.#deleteKey(this.#layout.blob(digest), `delete ${digest}`);
  }

  createUpload(owner: unknown): Promise<UploadState> {
    return nameFullStore(this.name, this.#uploads.create(owner));
  }
  getUpload(id: string): Promise<UploadState | undefined> {
    return this.#uploads.get(id);
  }
  appendUpload(id: string, offset: number, body: Readable): Promise<UploadState> {
    return nameFullStore(this.name, this.#uploads.append(id, offset, body));
  }
  commitUpload(id: string, digest: Digest, expectedSize?: number): Promise<BlobInfo> {
    return nameFullStore(this.name, this.#uploads.commit(id, digest, expectedSize));
  }
  cancelUpload(id: string): Promise<void> {
    return this.#uploads.cancel(id);
  }

  putBlob(digest: Digest, body: Readable, expectedSize?: number): Promise<BlobInfo> {
    return nameFullStore(this.name, this.#putBlob(digest, body, expectedSize));
  }

  async #putBlob(digest: Digest, body: Readable, expectedSize?: number): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    const key = this.#layout.blob(digest);
    const hash = createHash(algorithm);
    const sink = new PartSink(this.#s3, key, Math.max(this.#plan.partSize, MIN_PART_SIZE), {
      uploadId: null,
      parts: [],
    });
    let size = 0;
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        hash.update(bytes);
        size += bytes.length;
        await sink.write(bytes);
      }
      verifyContent(digest, { digest: `${algorithm}:${hash.digest('hex')}`, size }, expectedSize);
      if (sink.uploadId === null) {
        await this.#s3.client.send(
          new PutObjectCommand({ Bucket: this.#s3.bucket, Key: key, Body: sink.pending(), ContentLength: size }),
        );
      } else {
        if (sink.pendingSize > 0) await sink.uploadPart(sink.pending());
        await sink.complete();
      }
      return { digest, size };
    } catch (error) {
      await sink.abort();
      if (error instanceof StorageError) throw error;
      throw toStorageError(error, `put ${digest}`);
    }
  }

  getMeta(key: string): Promise<Buffer | undefined> {
    return this.#meta.get(key);
  }
  putMeta(key: string, value: Buffer | string): Promise<void> {
    return nameFullStore(this.name, this.#meta.put(key, value));
  }
  deleteMeta(key: string): Promise<void> {
    return this.#meta.delete(key);
  }
  listMeta(prefix: string): Promise<string[]> {
    return this.#meta.list(prefix);
  }
  /** See {@link S3Meta.getVersioned}. */
  getMetaVersioned(key: string): Promise<VersionedMeta | undefined> {
    return this.#meta.getVersioned(key);
  }
  /** See {@link S3Meta.putIf}. */
  putMetaIf(key: string, value: Buffer | string, version: string | null): Promise<boolean> {
    return this.#meta.putIf(key, value, version);
  }
  listBlobs(): AsyncIterable<StoredBlob> {
    return this.#lifecycle.listBlobs();
  }
  quarantineBlob(digest: Digest): Promise<boolean> {
    return this.#lifecycle.quarantineBlob(digest);
  }
  restoreBlob(digest: Digest): Promise<boolean> {
    return this.#lifecycle.restoreBlob(digest);
  }
  purgeBlob(digest: Digest): Promise<void> {
    return this.#lifecycle.purgeBlob(digest);
  }
  listQuarantined(): AsyncIterable<Digest> {
    return this.#lifecycle.listQuarantined();
  }

  /**
   * Discards upload sessions without activity for the store's upload timeout, recounts what the
   * others hold, and aborts multipart uploads no session will finish (see {@link S3Uploads.sweep}).
   * Any replica may run it, and each does, every quarter of the timeout (at most every 5
   * minutes). Costs one listing of the sessions, one GET per session and one
   * ListMultipartUploads. `now` is for tests.
   */
  async sweepUploads(now: number = Date.now()): Promise<{ sessions: number; multipart: number }> {
    const swept = await this.#uploads.sweep(
      now,
      this.#uploadTimeoutMs,
      () => this.#listSessionIds(),
      () => this.#listMultipart(),
    );
    if (swept.sessions + swept.multipart > 0) this.#log?.info({ store: this.name, ...swept }, 's3 uploads swept');
    return swept;
  }

  async close(): Promise<void> {
    await this.#sweeper?.close();
    this.#s3.destroy();
  }

  async #deleteKey(key: string, action: string): Promise<void> {
    try {
      await this.#s3.client.send(new DeleteObjectCommand({ Bucket: this.#s3.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw toStorageError(error, action);
    }
  }

  async #listSessionIds(): Promise<string[]> {
    const root = this.#layout.uploadsRoot();
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#s3.client.send(
        new ListObjectsV2Command({ Bucket: this.#s3.bucket, Prefix: root, Delimiter: '/', ContinuationToken: token }),
      );
      for (const common of page.CommonPrefixes ?? []) ids.push(common.Prefix!.slice(root.length).replace(/\/$/, ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return ids;
  }

  async #listMultipart(): Promise<ListedMultipart[]> {
    const found: ListedMultipart[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await this.#s3.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.#s3.bucket,
          Prefix: this.#layout.root(),
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of result.Uploads ?? []) {
        if (upload.Key && upload.UploadId && upload.Initiated) {
          found.push({ key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated });
        }
      }
      if (!result.IsTruncated) break;
      keyMarker = result.NextKeyMarker;
      uploadIdMarker = result.NextUploadIdMarker;
    }
    return found;
  }
}
