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
 * Activity and the sweep: the document's `activeAt` is when the session last received bytes, set
 * at its start and at every append's end, and rewritten (the If-Match as above) every heartbeat
 * while one long append streams, so that another replica's sweep never takes a live session for
 * an abandoned one. {@link S3Uploads.sweep} discards sessions without activity for longer than
 * the upload timeout, and sums what the others hold for the store's {@link UploadBudget}; an
 * append takes its bytes from that budget as they arrive (`STORAGE_UPLOAD_LIMIT` past the cap,
 * the session then left as it was recorded).
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
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type DigestAlgorithm, digestOf, parseDigest, verifyContent } from '../../../oci/digest.ts';
import type { BlobInfo, UploadState } from '../../blob-store.ts';
import { isStorageError, StorageError } from '../../errors.ts';
import { newUploadId } from '../../keys.ts';
import type { UploadBudget, UploadReservation } from '../../upload-budget.ts';
import type { S3Connection } from './client.ts';
import type { S3Layout } from './layout.ts';
import { deleteQuietly, getSmallObject, objectExists, putSmallObject } from './objects.ts';
import { abortMultipart, copyObject, hashObject, PartSink } from './parts.ts';
import { type LoadedSession, loadSession, type S3SessionDoc, saveSession, toState } from './session-doc.ts';

interface HashState {
  readonly hash: Hash;
  offset: number;
}

/** How long a multipart upload outside any session (a crashed `putBlob`) may stay before the sweep aborts it. */
export const STALE_BLOB_WRITE_MS = 24 * 3600_000;

/** What {@link S3Uploads} needs besides the connection. */
export interface S3UploadsOptions {
  readonly partSize: number;
  readonly budget: UploadBudget;
  /** How often a long append rewrites `activeAt` (well under the upload timeout). */
  readonly heartbeatMs: number;
}

/** A multipart upload found in the bucket by the sweep. */
export interface ListedMultipart {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
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
  readonly #budget: UploadBudget;
  readonly #heartbeatMs: number;

  constructor(s3: S3Connection, layout: S3Layout, options: S3UploadsOptions) {
    this.#s3 = s3;
    this.#layout = layout;
    this.#partSize = options.partSize;
    this.#budget = options.budget;
    this.#heartbeatMs = options.heartbeatMs;
  }

  async create(owner: unknown): Promise<UploadState> {
    const now = new Date().toISOString();
    const doc: S3SessionDoc = {
      version: 1,
      id: newUploadId(),
      owner: owner ?? null,
      startedAt: now,
      activeAt: now,
      offset: 0,
      multipartId: null,
      parts: [],
      tail: null,
    };
    await putSmallObject(this.#s3, this.#layout.session(doc.id), JSON.stringify(doc));
    this.#hashes.set(doc.id, { hash: createHash('sha256'), offset: 0 });
    this.#budget.record(doc.id, 0);
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
    const reservation = this.#budget.reserve();
    try {
      return await this.#append(id, offset, body, reservation);
    } finally {
      reservation.release();
      this.#busy.delete(id);
    }
  }

  async #append(id: string, offset: number, body: Readable, reservation: UploadReservation): Promise<UploadState> {
    const loaded = await this.#load(id).catch((error) => {
      body.resume();
      throw error;
    });
    if (!loaded) {
      body.resume();
      throw new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${id} is unknown`);
    }
    const { doc } = loaded;
    let { etag } = loaded;
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
    let beat = Date.now();
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        reservation.take(bytes.length); // STORAGE_UPLOAD_LIMIT past the cap: nothing recorded
        hashState?.hash.update(bytes);
        received += bytes.length;
        await sink.write(bytes);
        if (Date.now() - beat >= this.#heartbeatMs) {
          beat = Date.now();
          etag = await this.#heartbeat(doc, etag, beat);
        }
      }
    } catch (error) {
      if (error instanceof StorageError) throw error; // S3 failed, or the cap: the session stays as it was
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
    const next: S3SessionDoc = {
      ...doc,
      activeAt: new Date().toISOString(),
      offset: end,
      multipartId: sink.uploadId,
      parts: sink.parts,
      tail,
    };
    await this.#save(next, etag);
    this.#budget.record(id, end);
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
   * Discards the sessions without activity since `now - timeoutMs` (those this process is
   * appending to or committing are active whatever their document says) and tells the budget
   * what the others hold. Then aborts multipart uploads that no session will finish: one on a
   * session's `data` whose session is gone, initiated before the same bound (a crashed append, or
   * a discard that failed midway), or one elsewhere under this store's prefix initiated more than
   * {@link STALE_BLOB_WRITE_MS} ago (a crashed `putBlob`). Returns how many of each it removed.
   */
  async sweep(
    now: number,
    timeoutMs: number,
    listIds: () => Promise<string[]>,
    listMultipart: () => Promise<ListedMultipart[]>,
  ): Promise<{ sessions: number; multipart: number }> {
    const generation = this.#budget.scanStarted();
    const found = new Map<string, number>();
    let sessions = 0;
    const ids = await listIds();
    const unreadable = new Set<string>();
    for (const id of ids) {
      const loaded = await this.#load(id).catch(() => {
        unreadable.add(id); // could not be read now: judged at the next sweep, its data left alone
        return undefined;
      });
      if (!loaded) continue;
      const { doc } = loaded;
      const activeAt = Date.parse(doc.activeAt ?? doc.startedAt);
      if (this.#busy.has(id) || !(now - activeAt > timeoutMs)) {
        found.set(id, doc.offset);
        continue;
      }
      this.#busy.add(id); // an append arriving now is refused rather than racing the discard
      try {
        await this.#discard(doc);
      } finally {
        this.#busy.delete(id);
      }
      sessions++;
    }
    this.#budget.applyScan(generation, found);
    const live = new Set([...found.keys(), ...unreadable]);
    let multipart = 0;
    for (const upload of await listMultipart()) {
      const session = this.#layout.sessionOfData(upload.key);
      const stale =
        session === undefined
          ? now - upload.initiated.getTime() > STALE_BLOB_WRITE_MS
          : !live.has(session) && !this.#busy.has(session) && now - upload.initiated.getTime() > timeoutMs;
      if (stale) {
        await abortMultipart(this.#s3, upload.key, upload.uploadId);
        multipart++;
      }
    }
    return { sessions, multipart };
  }

  /**
   * Rewrites `activeAt` while an append streams. Lost to another writer, the append is over
   * (`STORAGE_UPLOAD_OFFSET`, as at its end); any other failure is passing: the append goes on
   * with the version it has, and the next beat or its end records the activity.
   */
  async #heartbeat(doc: S3SessionDoc, etag: string | undefined, at: number): Promise<string | undefined> {
    try {
      return await this.#save({ ...doc, activeAt: new Date(at).toISOString() }, etag);
    } catch (error) {
      if (isStorageError(error, 'STORAGE_UPLOAD_OFFSET')) throw error;
      return etag;
    }
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
    this.#budget.forget(doc.id);
  }

  async #getTail(key: string): Promise<Buffer> {
    const tail = await getSmallObject(this.#s3, key);
    if (!tail) throw new StorageError('STORAGE_IO', `upload tail ${key} is missing`);
    return tail.body;
  }

  #load(id: string): Promise<LoadedSession | undefined> {
    return loadSession(this.#s3, this.#layout, id);
  }

  #save(doc: S3SessionDoc, etag: string | undefined): Promise<string | undefined> {
    return saveSession(this.#s3, this.#layout, doc, etag);
  }
}
