/**
 * Upload sessions of the s3 blob store, kept entirely in the bucket so that any replica can
 * continue a session another one started (a chunked push whose PATCHes land on different
 * replicas behind a load balancer).
 *
 * A session is a JSON document (`uploads/<id>/session.json`, {@link S3SessionDoc}) plus an S3
 * multipart upload on `uploads/<id>/data` holding every full part, plus at most one "tail" object
 * with the bytes received after the last full part (S3 parts must be ≥ 5 MiB except the last,
 * and a PATCH may end anywhere). The next append reads the tail back (≤ one part) and prepends it.
 * Tail keys are unique per write, so a losing racer cannot overwrite the tail the winner recorded.
 *
 * Every append rewrites the document with `If-Match` on the ETag it read, so of two appends racing
 * at one offset exactly one is recorded; the other gets `STORAGE_UPLOAD_OFFSET`. (Its parts may
 * have overwritten the winner's parts of the same number: then the recorded ETags no longer match
 * and the commit fails; nothing unverified can become visible.)
 *
 * Hashing: the replica that sees every byte in order keeps a running hash in memory; at commit it
 * is compared before anything is made visible. A replica without that state (another one took some
 * PATCHes, or a restart, or a sha512 digest) re-hashes by streaming the assembled object back.
 *
 * Commit = CompleteMultipartUpload to the temporary `data` key → verify → CopyObject to
 * `blobs/<alg>/<hex>` → delete `data`. The copy is server-side (no bytes through this process)
 * but costs time proportional to the size on servers that really copy; it is skipped when the
 * blob already exists. Small uploads (everything in the tail) are verified and copied directly.
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { type DigestAlgorithm, digestOf, parseDigest, verifyContent } from '../../../oci/digest.ts';
import type { BlobInfo, UploadState } from '../../blob-store.ts';
import { StorageError } from '../../errors.ts';
import { isUploadId, newUploadId } from '../../keys.ts';
import { headEtag, httpStatusOf, type S3Connection, toStorageError } from './client.ts';
import type { S3Layout } from './layout.ts';
import { deleteQuietly, getSmallObject, objectExists, putSmallObject } from './objects.ts';
import { abortMultipart, copyObject, hashObject, type PartRecord, PartSink } from './parts.ts';

/** The session document, as stored. */
export interface S3SessionDoc {
  readonly version: 1;
  readonly id: string;
  readonly owner: unknown;
  readonly startedAt: string;
  /** Bytes received: the parts' sizes plus the tail's. */
  readonly offset: number;
  /** The S3 multipart upload on the `data` key, started with the first full part. */
  readonly multipartId: string | null;
  readonly parts: readonly PartRecord[];
  readonly tail: { readonly key: string; readonly size: number } | null;
}

interface HashState {
  readonly hash: Hash;
  offset: number;
}

/** The upload half of the s3 blob store; one per store instance (its hash states are per process). */
export class S3Uploads {
  readonly #s3: S3Connection;
  readonly #layout: S3Layout;
  readonly #partSize: number;
  /** Running sha256 of sessions whose every byte passed through this process, by session id. */
  readonly #hashes = new Map<string, HashState>();
  /** Sessions this process is appending to or committing right now. */
  readonly #busy = new Set<string>();

  constructor(s3: S3Connection, layout: S3Layout, partSize: number) {
    this.#s3 = s3;
    this.#layout = layout;
    this.#partSize = partSize;
  }

  async create(owner: unknown): Promise<UploadState> {
    const doc: S3SessionDoc = {
      version: 1,
      id: newUploadId(),
      owner: owner ?? null,
      startedAt: new Date().toISOString(),
      offset: 0,
      multipartId: null,
      parts: [],
      tail: null,
    };
    await putSmallObject(this.#s3, this.#layout.session(doc.id), JSON.stringify(doc));
    this.#hashes.set(doc.id, { hash: createHash('sha256'), offset: 0 });
    return toState(doc);
  }

  async get(id: string): Promise<UploadState | undefined> {
    const loaded = await this.#load(id);
    return loaded && toState(loaded.doc);
  }

  /**
   * Appends `body`. Refused at once (`STORAGE_UPLOAD_OFFSET`, body drained) while this process is
   * already appending to or committing the session; across replicas the If-Match on the document
   * decides. A broken body keeps the bytes received and rethrows the body's own error.
   */
  async append(id: string, offset: number, body: Readable): Promise<UploadState> {
    if (this.#busy.has(id)) {
      body.resume();
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is receiving another append`);
    }
    this.#busy.add(id);
    try {
      return await this.#append(id, offset, body);
    } finally {
      this.#busy.delete(id);
    }
  }

  async #append(id: string, offset: number, body: Readable): Promise<UploadState> {
    const loaded = await this.#load(id).catch((error) => {
      body.resume();
      throw error;
    });
    if (!loaded) {
      body.resume();
      throw new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    }
    const { doc, etag } = loaded;
    if (offset !== doc.offset) {
      body.resume();
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is at offset ${doc.offset}, not ${offset}`);
    }
    let hashState = this.#hashes.get(id);
    if (hashState && hashState.offset !== doc.offset) hashState = undefined; // another replica appended
    this.#hashes.delete(id); // re-set only once this append is recorded
    const sink = new PartSink(this.#s3, this.#layout.data(id), this.#partSize, {
      uploadId: doc.multipartId,
      parts: doc.parts,
    });
    if (doc.tail) await sink.write(await this.#getTail(doc.tail.key));
    let received = 0;
    let bodyError: unknown;
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        hashState?.hash.update(bytes);
        received += bytes.length;
        await sink.write(bytes);
      }
    } catch (error) {
      if (error instanceof StorageError) throw error; // S3 failed: the session stays as it was
      bodyError = error; // the client's stream broke: keep what arrived
    }
    const end = doc.offset + received;
    // An unchanged tail (an empty PATCH) stays where it is; a new one gets a fresh key.
    const unchanged = doc.tail !== null && received === 0;
    const tail = unchanged
      ? doc.tail
      : sink.pendingSize > 0
        ? { key: this.#layout.tail(id, end, randomBytes(6).toString('hex')), size: sink.pendingSize }
        : null;
    if (tail && !unchanged) await putSmallObject(this.#s3, tail.key, sink.pending());
    const next: S3SessionDoc = { ...doc, offset: end, multipartId: sink.uploadId, parts: sink.parts, tail };
    await this.#save(next, etag);
    if (doc.tail && doc.tail.key !== tail?.key) await deleteQuietly(this.#s3, doc.tail.key);
    if (hashState) {
      hashState.offset = end;
      this.#hashes.set(id, hashState);
    }
    if (bodyError !== undefined) throw bodyError;
    return toState(next);
  }

  async commit(id: string, digest: string, expectedSize?: number): Promise<BlobInfo> {
    if (this.#busy.has(id)) {
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is receiving data: commit after the append`);
    }
    this.#busy.add(id);
    try {
      return await this.#commit(id, digest, expectedSize);
    } finally {
      this.#busy.delete(id);
    }
  }

  async #commit(id: string, digest: string, expectedSize?: number): Promise<BlobInfo> {
    const loaded = await this.#load(id);
    if (!loaded) throw new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    const { doc } = loaded;
    const { algorithm } = parseDigest(digest);
    const target = this.#layout.blob(digest);
    const hashState = this.#hashes.get(id);
    const known =
      hashState && hashState.offset === doc.offset && algorithm === 'sha256'
        ? hashState.hash.copy().digest('hex')
        : undefined;
    try {
      if (expectedSize !== undefined && expectedSize !== doc.offset) {
        throw new StorageError(
          'STORAGE_SIZE_MISMATCH',
          `upload ${id} has ${doc.offset} bytes, expected ${expectedSize}`,
        );
      }
      if (known !== undefined) verifyContent(digest, { digest: `${algorithm}:${known}`, size: doc.offset });
      if (doc.offset === 0) {
        verifyContent(digest, { digest: digestOf(Buffer.alloc(0), algorithm), size: 0 });
        await putSmallObject(this.#s3, target, Buffer.alloc(0));
      } else if (doc.multipartId === null && doc.tail) {
        await this.#verifyAndCopy(
          doc.tail.key,
          target,
          doc.offset,
          known === undefined ? algorithm : undefined,
          digest,
        );
      } else {
        const sink = new PartSink(this.#s3, this.#layout.data(id), this.#partSize, {
          uploadId: doc.multipartId,
          parts: doc.parts,
        });
        if (known !== undefined && (await objectExists(this.#s3, target))) {
          await sink.abort(); // already there, and we know these bytes are the same
        } else {
          if (doc.tail) await sink.copyPart(doc.tail.key, doc.tail.size);
          await sink.complete();
          const data = this.#layout.data(id);
          try {
            await this.#verifyAndCopy(data, target, doc.offset, known === undefined ? algorithm : undefined, digest);
          } finally {
            await deleteQuietly(this.#s3, data);
          }
        }
      }
      return { digest, size: doc.offset };
    } finally {
      await this.#discard(doc);
    }
  }

  /** Idempotent: aborts the multipart upload, removes the tail and the document. */
  async cancel(id: string): Promise<void> {
    const loaded = await this.#load(id);
    this.#hashes.delete(id);
    if (loaded) await this.#discard(loaded.doc);
  }

  /**
   * Cancels sessions started before `olderThan`, and aborts multipart uploads under this store's
   * prefix initiated before it that no session finished (crashed writers). Returns how many.
   */
  async sweep(
    olderThan: Date,
    listIds: () => Promise<string[]>,
    listMultipart: () => Promise<{ key: string; uploadId: string; initiated: Date }[]>,
  ): Promise<number> {
    let swept = 0;
    for (const id of await listIds()) {
      const loaded = await this.#load(id).catch(() => undefined);
      if (loaded && Date.parse(loaded.doc.startedAt) < olderThan.getTime()) {
        await this.#discard(loaded.doc);
        swept++;
      }
    }
    for (const upload of await listMultipart()) {
      if (upload.initiated < olderThan) {
        await abortMultipart(this.#s3, upload.key, upload.uploadId);
        swept++;
      }
    }
    return swept;
  }

  async #verifyAndCopy(
    from: string,
    to: string,
    size: number,
    rehash: DigestAlgorithm | undefined,
    digest: string,
  ): Promise<void> {
    if (rehash !== undefined) {
      const actual = await hashObject(this.#s3, from, rehash);
      verifyContent(digest, { digest: `${rehash}:${actual.hex}`, size: actual.size }, size);
    }
    await copyObject(this.#s3, from, to, size);
  }

  /** Removes everything of a session: its multipart upload, then every object under its folder. */
  async #discard(doc: S3SessionDoc): Promise<void> {
    this.#hashes.delete(doc.id);
    if (doc.multipartId) await abortMultipart(this.#s3, this.#layout.data(doc.id), doc.multipartId);
    const folder = this.#layout.session(doc.id).replace(/session\.json$/, '');
    const listed = await this.#s3.client
      .send(new ListObjectsV2Command({ Bucket: this.#s3.bucket, Prefix: folder, MaxKeys: 1000 }))
      .catch(() => undefined);
    const keys = (listed?.Contents ?? []).map((object) => object.Key!).filter((key) => !key.endsWith('/session.json'));
    for (const key of keys) await deleteQuietly(this.#s3, key);
    await deleteQuietly(this.#s3, this.#layout.session(doc.id)); // last: while it exists, the session can be found and swept
  }

  async #getTail(key: string): Promise<Buffer> {
    const tail = await getSmallObject(this.#s3, key);
    if (!tail) throw new StorageError('STORAGE_IO', `upload tail ${key} is missing`);
    return tail.body;
  }

  async #load(id: string): Promise<{ doc: S3SessionDoc; etag: string | undefined } | undefined> {
    if (!isUploadId(id)) return undefined;
    const found = await getSmallObject(this.#s3, this.#layout.session(id));
    return found && { doc: JSON.parse(found.body.toString('utf8')) as S3SessionDoc, etag: found.etag };
  }

  /** Writes the document only if it is still the version read (If-Match). */
  async #save(doc: S3SessionDoc, etag: string | undefined): Promise<void> {
    const key = this.#layout.session(doc.id);
    try {
      await this.#s3.client.send(
        new PutObjectCommand({
          Bucket: this.#s3.bucket,
          Key: key,
          Body: JSON.stringify(doc),
          ContentType: 'application/json',
          IfMatch: etag,
        }),
      );
    } catch (error) {
      const status = httpStatusOf(error);
      // A losing conditional write may surface as 500 instead of 412: look at what is there now.
      const lost =
        status === 412 || (status !== undefined && status >= 500 && (await headEtag(this.#s3, key)) !== etag);
      if (lost)
        throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${doc.id} was appended to concurrently`, {
          cause: error,
        });
      throw toStorageError(error, `save upload ${doc.id}`);
    }
  }
}

function toState(doc: S3SessionDoc): UploadState {
  return { id: doc.id, offset: doc.offset, startedAt: doc.startedAt, owner: doc.owner };
}
