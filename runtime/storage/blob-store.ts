/**
 * The blob store: where every byte and every piece of state lives.
 *
 * A store holds three kinds of things, and nothing else is kept by a runtime (beyond caches), so
 * that several replicas can share one store (S3):
 * - **blobs**, addressed by digest (`sha256:<64 hex>` or `sha512:<128 hex>`), shared by every
 *   repository bound to the store; immutable once visible;
 * - **upload sessions**, identified by an opaque id, that survive a restart and can be continued by
 *   another replica;
 * - **metadata**: small documents (tags, manifest and layer links, referrers, proxy cache records)
 *   under `/`-separated keys whose segments match `[A-Za-z0-9._%-]+` (never `.` or `..`).
 *
 * Guarantees every driver gives (checked by `test/suites/blob-store.ts`):
 * - a blob becomes visible only after its content was hashed (by the store, or by the caller of
 *   `putHashedBlob`) and matched its digest; a crash, an aborted stream or a mismatch never leaves
 *   a visible partial blob;
 * - concurrent writes of the same blob or key are safe (last complete writer wins, content equal);
 * - errors are `StorageError`s with a stable `code` (see runtime/oci/errors.ts);
 * - a store out of space (the file driver: ENOSPC, EDQUOT; the suite does not fill a disk, see
 *   test/e2e/disk-full.test.ts) throws `STORAGE_FULL` (with its name in `store`) from any write (an
 *   upload's create, append and commit, `putBlob`, `putHashedBlob`, `putMeta`); the failed write
 *   leaves nothing behind (temporaries removed, an append's bytes cut off as said there), nothing
 *   half-written becomes visible, reads go on working, and writes succeed again once there is
 *   room, without a restart;
 * - bodies are streamed: memory stays flat whatever the blob size.
 */
import type { Readable } from 'node:stream';

/** `algorithm:hex`, validated with `isDigest` (runtime/oci/digest.ts) before reaching a store. */
export type Digest = string;

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface UploadState {
  readonly id: string;
  /** Bytes received so far. */
  readonly offset: number;
  /**
   * ISO time the session started. Not what decides its end: a session without activity (bytes
   * received) for the store's upload timeout is deleted by the store's sweep, whatever its age.
   */
  readonly startedAt: string;
  /** Free-form JSON the caller attached at creation (e.g. the repository and image it belongs to). */
  readonly owner: unknown;
}

/** What {@link BlobStore.putHashedBlob} needs besides the digest and the body. */
export interface HashedBlobOptions {
  /**
   * Called by the store once, after the body has ended: the digest and size the caller computed
   * over exactly the bytes it wrote into the body. The caller must have finished hashing by the
   * time it ends the body.
   */
  readonly hashed: () => BlobInfo;
  /** The size announced for the blob (e.g. an upstream's Content-Length), checked when given. */
  readonly expectedSize?: number;
}

/** What {@link DirectSendable.sendTo} writes to: an HTTP response (or a socket). */
export interface ChunkTarget {
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
}

/**
 * Optional capability of a stream returned by {@link BlobStore.read}: it can write itself to a
 * response, reusing its buffers once the response's write callbacks say they are done with
 * (no allocation per chunk; see drivers/file-read-stream.ts). The HTTP layer uses it when offered.
 */
export interface DirectSendable {
  /**
   * Writes every byte of the blob (or range) to `target`, then resolves; nothing else may read
   * the stream. Rejects when the content cannot be read or the target goes away before the last
   * byte; the stream is destroyed (its resources released) once this settles, either way.
   */
  sendTo(target: ChunkTarget): Promise<void>;
}

/** True when `stream` offers {@link DirectSendable.sendTo} and nothing has read it yet. */
export function canSendDirect(stream: Readable): stream is Readable & DirectSendable {
  return (
    typeof (stream as Partial<DirectSendable>).sendTo === 'function' &&
    stream.readableFlowing === null &&
    !stream.readableDidRead
  );
}

/** A visible blob as {@link BlobLifecycle.listBlobs} reports it. */
export interface StoredBlob {
  readonly digest: Digest;
  readonly size: number;
  /** Epoch ms of the last write of the blob (a re-push of present content counts as one). */
  readonly modifiedAt: number;
}

/** A metadata document with its version, for {@link BlobLifecycle.putMetaIf}. */
export interface VersionedMeta {
  readonly value: Buffer;
  /** Opaque; changes with every write of the document. */
  readonly version: string;
}

/**
 * What garbage collection needs of a store (runtime/gc/, protocol in docs/gc.md). Every driver
 * implements it; the conformance suite checks it.
 *
 * Quarantine is the reversible delete GC is built on: a quarantined blob is invisible (`stat`
 * answers undefined, `read` throws `STORAGE_NOT_FOUND`) but its bytes are kept until
 * {@link purgeBlob}, so a writer that finds a blob it referenced quarantined can bring it back
 * ({@link restoreBlob}) instead of losing it. A readable stream opened before the quarantine goes
 * on to its end (file: an open descriptor; S3: a GET already answering).
 */
export interface BlobLifecycle {
  /** Every visible blob, in no particular order; memory stays flat (an iterator, not an array). */
  listBlobs(): AsyncIterable<StoredBlob>;
  /**
   * Moves a visible blob into quarantine. True when it moved; false when it was not visible.
   * A blob that is also in quarantine already is replaced there (same content).
   */
  quarantineBlob(digest: Digest): Promise<boolean>;
  /**
   * Makes a quarantined blob visible again; when a visible copy exists already (pushed anew), the
   * quarantined one is dropped instead. True when the blob is visible afterwards, false when it is
   * neither visible nor quarantined (purged: gone). Either way nothing of it stays in quarantine.
   */
  restoreBlob(digest: Digest): Promise<boolean>;
  /** Deletes the quarantined copy; idempotent. Never touches a visible blob. */
  purgeBlob(digest: Digest): Promise<void>;
  /** The digests in quarantine (a crashed pass's leftovers, or a running pass's). */
  listQuarantined(): AsyncIterable<Digest>;
  /** A metadata document with its version, or undefined. */
  getMetaVersioned(key: string): Promise<VersionedMeta | undefined>;
  /**
   * Compare-and-swap: writes `value` only if the document is still at `version` (`null`: only if it
   * does not exist). False when another writer got there first. For small coordination documents
   * (the GC lease), not for the hot path.
   */
  putMetaIf(key: string, value: Buffer | string, version: string | null): Promise<boolean>;
}

export interface BlobStore extends BlobLifecycle {
  /** The plan's name of this store. */
  readonly name: string;

  /** Size of a visible blob, or undefined when absent. */
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /**
   * A stream of the blob's bytes (or of `range`). Throws `STORAGE_NOT_FOUND` when absent.
   * A range past the end is clipped by the caller, not here (`end` must be < size). The stream
   * may also be {@link DirectSendable}.
   */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /** A URL the client may fetch the blob from instead (presigned), or undefined. */
  redirectUrl?(digest: Digest): Promise<string | undefined>;
  /** Removes the blob; idempotent. Links in metadata are the caller's business. */
  delete(digest: Digest): Promise<void>;

  /** Starts an upload session. */
  createUpload(owner: unknown): Promise<UploadState>;
  /** The session's state, or undefined when unknown (never started, committed, cancelled, swept). */
  getUpload(id: string): Promise<UploadState | undefined>;
  /**
   * Appends `body` to the session. `offset` must equal the session's current offset, else
   * `STORAGE_UPLOAD_OFFSET`. Throws `STORAGE_UPLOAD_UNKNOWN` for an unknown id. If `body` fails
   * midway, the bytes received are kept (the session's offset says how many) and the body's own
   * error is rethrown as is: whatever is not a `StorageError` is the body's failure, not the store's.
   * When the store runs out of space (`STORAGE_FULL`), the session stays at the offset it had
   * before this append, and every byte this append wrote is removed at once (to give the space
   * back); the client may resume from that offset once there is room. The same holds for
   * `STORAGE_UPLOAD_LIMIT`: the store's uploads in progress would pass its `maxUploadBytes` with
   * this append's next chunk (see upload-budget.ts).
   */
  appendUpload(id: string, offset: number, body: Readable): Promise<UploadState>;
  /**
   * Verifies that the session's content hashes to `digest` (and has `expectedSize` bytes when
   * given) and makes it visible as that blob; the session is gone afterwards either way. Throws
   * `STORAGE_DIGEST_MISMATCH` / `STORAGE_SIZE_MISMATCH` and leaves nothing behind on a mismatch.
   */
  commitUpload(id: string, digest: Digest, expectedSize?: number): Promise<BlobInfo>;
  /** Discards the session; idempotent. */
  cancelUpload(id: string): Promise<void>;
  /** Writes a whole blob in one call, with the same verification as an upload. */
  putBlob(digest: Digest, body: Readable, expectedSize?: number): Promise<BlobInfo>;
  /**
   * Optional: {@link putBlob} for a caller that hashes `body` itself anyway, so the bytes are
   * hashed once, not twice (the proxy's stream-through must hash what it sends its client, and
   * the store's own hash of the same bytes was half of its CPU per byte). Callers fall back to
   * `putBlob` when a driver lacks it.
   *
   * The store writes `body` under a temporary name and does not hash it; it counts the bytes.
   * Once `body` has ended and the bytes are durable it calls `hashed()` once: the caller answers
   * with the digest and size of exactly the bytes it wrote into `body`, in order. The blob becomes
   * visible only when that digest is `digest` and that size equals the store's count (and
   * `expectedSize` when given), else `STORAGE_DIGEST_MISMATCH` / `STORAGE_SIZE_MISMATCH`. What
   * `hashed()` throws is rethrown. On any failure (a mismatch, a body that errors or is destroyed,
   * a throwing `hashed()`, a disk error) nothing is visible and the temporary is removed; a body's
   * own error is rethrown as is, as in {@link appendUpload}, and `hashed()` is not called.
   */
  putHashedBlob?(digest: Digest, body: Readable, options: HashedBlobOptions): Promise<BlobInfo>;

  /** A metadata document, or undefined. */
  getMeta(key: string): Promise<Buffer | undefined>;
  /** Atomically creates or replaces a metadata document. */
  putMeta(key: string, value: Buffer | string): Promise<void>;
  /** Removes one document; idempotent. */
  deleteMeta(key: string): Promise<void>;
  /**
   * The names of the direct children of `prefix` (a key without trailing slash, or '' for the
   * root): documents and non-empty "folders" alike, sorted by byte order, without duplicates.
   */
  listMeta(prefix: string): Promise<string[]>;

  /** Releases handles, pools and timers. */
  close(): Promise<void>;
}
