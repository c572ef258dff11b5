/**
 * The blob half of a hosted repository: reads of linked blobs, upload sessions and mounts.
 *
 * A blob in the store is shared by every repository bound to it; what makes it part of an image is
 * a link in that image's metadata. So a read checks the link first (a client never learns what
 * other repositories hold), a completed upload or a mount adds the link, and a delete removes only
 * the link. Upload sessions carry their owner (repository and image) in the store, so a replica
 * can continue them and no session can be finished through another repository or image.
 */
import type { Readable } from 'node:stream';
import { isHeld } from '../../gc/held.ts';
import type { GcJournal } from '../../gc/journal.ts';
import { isDigest } from '../../oci/digest.ts';
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import type { BlobInfo, BlobStore, ByteRange, Digest, UploadState } from '../../storage/blob-store.ts';
import { isStorageError } from '../../storage/errors.ts';
import type { ContentCache } from '../content-cache.ts';
import type { BlobResponse, UploadStatus } from '../repository.ts';
import type { CachedHostedMetadata } from './meta-cache.ts';
import { hostedKeys } from './metadata.ts';
import type { QuotaGuard } from './quota.ts';

/** What an upload session records as its `owner`. */
export interface UploadOwner {
  readonly repository: string;
  readonly image: string;
}

/** Blob reads, uploads and mounts of one hosted repository; policy checks are the caller's. */
export class HostedBlobs {
  readonly #repository: string;
  readonly #store: BlobStore;
  readonly #meta: CachedHostedMetadata;
  readonly #cache: ContentCache | undefined;
  readonly #journal: GcJournal | undefined;
  readonly #quota: QuotaGuard | undefined;

  /**
   * `cache` holds blob sizes by digest (immutable). Links come from `meta`'s short-lived cache for
   * reads that answer a pull ({@link stat}, {@link get}) and from the store for everything that
   * decides a write (a pushed manifest's references, a delete, a mount).
   */
  constructor(
    repository: string,
    store: BlobStore,
    meta: CachedHostedMetadata,
    cache?: ContentCache,
    journal?: GcJournal,
    quota?: QuotaGuard,
  ) {
    this.#repository = repository;
    this.#store = store;
    this.#meta = meta;
    this.#cache = cache;
    this.#journal = journal;
    this.#quota = quota;
  }

  /**
   * The blob's size when it is in the store, for a write that is about to rely on it: asks the
   * store (never the size cache), and brings the blob back from garbage collection's quarantine
   * when a pass took it out of sight (docs/gc.md). The caller recorded its intent first.
   */
  async #ensureStored(digest: Digest): Promise<BlobInfo | undefined> {
    const info = await this.#store.stat(digest);
    if (info !== undefined) return info;
    return (await this.#store.restoreBlob(digest)) ? this.#store.stat(digest) : undefined;
  }

  /**
   * Whether `digest` is linked in `image`, for a write: a link a pass holds is linked again
   * (through the metadata cache, so this replica's pulls see it at once).
   */
  async #ensureLinked(image: string, digest: Digest): Promise<boolean> {
    if (await this.#meta.isBlobLinked(image, digest)) return true;
    if (!(await isHeld(this.#store, hostedKeys(this.#repository).layer(image, digest)))) return false;
    await this.#meta.linkBlob(image, digest);
    return true;
  }

  /** The store's stat, answered from the size cache once a digest has been seen present. */
  async #statStored(digest: Digest): Promise<BlobInfo | undefined> {
    const size = this.#cache?.size(digest);
    if (size !== undefined) return { digest, size };
    const info = await this.#store.stat(digest);
    if (info !== undefined) this.#cache?.setSize(digest, info.size);
    return info;
  }

  /**
   * True when `digest` is linked in `image` and its bytes are in the store, for a write that will
   * reference it (a pushed manifest): read from the store, restoring what a GC pass holds.
   */
  async isLinked(image: string, digest: Digest): Promise<boolean> {
    return (await this.#ensureLinked(image, digest)) && (await this.#ensureStored(digest)) !== undefined;
  }

  /**
   * Throws BLOB_UNKNOWN unless `digest` is linked in `image` (and present). A pull (`fresh` false)
   * may see the link as it was up to the metadata cache's bound ago; a delete asks the store.
   */
  async stat(image: string, digest: Digest, fresh = false): Promise<BlobInfo> {
    const linked =
      isDigest(digest) &&
      (await (fresh ? this.#meta.isBlobLinked(image, digest) : this.#meta.cachedBlobLinked(image, digest)));
    const info = linked ? await this.#statStored(digest) : undefined;
    if (info === undefined) {
      throw new RegistryError('BLOB_UNKNOWN', {
        message: `blob ${digest} is not in ${image} of repository ${this.#repository}`,
        detail: { name: image, digest },
      });
    }
    return info;
  }

  /** The bytes (or `range`), or the store's redirect when it offers one (a client resends Range). */
  async get(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    const info = await this.stat(image, digest);
    const redirect = await this.#store.redirectUrl?.(digest);
    if (redirect !== undefined) return { info, body: { redirect } };
    try {
      return { info, body: { stream: await this.#store.read(digest, range) } };
    } catch (error) {
      if (!isStorageError(error, 'STORAGE_NOT_FOUND')) throw error;
      throw new RegistryError('BLOB_UNKNOWN', {
        message: `blob ${digest} vanished from the store`,
        detail: { digest },
      });
    }
  }

  /** Removes the link; the bytes stay (other images may link them; garbage collection is separate). */
  async unlink(image: string, digest: Digest): Promise<void> {
    await this.stat(image, digest, true);
    await this.#meta.unlinkBlob(image, digest);
  }

  /**
   * With `mount`, links an existing blob instead of uploading it: from `mount.from` when given
   * and it links the blob there; without `from`, when any image of this repository links it
   * (OCI distribution 1.1 lets a registry mount without `from`). Otherwise a normal upload.
   */
  async startUpload(
    image: string,
    mount?: { digest: Digest; from?: string },
  ): Promise<{ upload: UploadStatus } | { mounted: BlobInfo }> {
    if (mount !== undefined && isDigest(mount.digest)) {
      await this.#journal?.record({ repository: this.#repository, image, blobs: [mount.digest], manifests: [] });
      const info = await this.#mountable(mount.digest, mount.from);
      if (info !== undefined) {
        await this.#quota?.check(info.digest, info.size);
        await this.#meta.linkBlob(image, mount.digest);
        this.#quota?.add(info.digest, info.size);
        return { mounted: info };
      }
    }
    const owner: UploadOwner = { repository: this.#repository, image };
    const state = await this.#store.createUpload(owner);
    return { upload: { id: state.id, offset: state.offset } };
  }

  async getUpload(image: string, id: string): Promise<UploadStatus> {
    const state = await this.#owned(image, id);
    return { id: state.id, offset: state.offset };
  }

  async appendUpload(image: string, id: string, offset: number, body: Readable): Promise<UploadStatus> {
    const state = await this.#owned(image, id);
    if (offset !== state.offset) throw rangeInvalid(id, offset, state.offset);
    const next = await this.#append(id, offset, body);
    return { id: next.id, offset: next.offset };
  }

  /**
   * Appends the last chunk (if any), verifies the digest and links the blob. On a mismatch the
   * store discards the session and nothing becomes visible.
   */
  async completeUpload(image: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    const state = await this.#owned(image, id);
    if (!isDigest(digest)) {
      await this.#store.cancelUpload(id);
      throw new RegistryError('DIGEST_INVALID', { message: `${digest} is not a valid digest`, detail: { digest } });
    }
    if (body !== undefined) await this.#append(id, state.offset, body);
    await this.#journal?.record({ repository: this.#repository, image, blobs: [digest], manifests: [] });
    if (this.#quota !== undefined) {
      const size = (await this.#store.getUpload(id))?.offset ?? 0;
      await this.#quota.check(digest, size).catch(async (error: unknown) => {
        await this.#store.cancelUpload(id);
        throw error;
      });
    }
    let info: BlobInfo;
    try {
      info = await this.#store.commitUpload(id, digest);
    } catch (error) {
      if (!isStorageError(error, 'STORAGE_DIGEST_MISMATCH')) throw error;
      throw new RegistryError('DIGEST_INVALID', {
        message: `uploaded content does not match digest ${digest}: the upload was discarded`,
        detail: { digest },
        cause: error,
      });
    }
    await this.#meta.linkBlob(image, info.digest);
    this.#quota?.add(info.digest, info.size);
    return info;
  }

  async cancelUpload(image: string, id: string): Promise<void> {
    await this.#owned(image, id);
    await this.#store.cancelUpload(id);
  }

  /**
   * The store's append, with its two client-side failures said plainly: another request appended
   * in between (RANGE_INVALID with the offset as it is now), and a request body that broke midway
   * (the client went away, bad framing). The store rethrows the body's own error as is and keeps
   * the bytes that arrived; that is no server failure, so it becomes BLOB_UPLOAD_INVALID instead of
   * a logged 500. Anything the store itself failed at is a StorageError and passes on.
   */
  async #append(id: string, offset: number, body: Readable): Promise<UploadState> {
    try {
      return await this.#store.appendUpload(id, offset, body);
    } catch (error) {
      if (isStorageError(error, 'STORAGE_UPLOAD_OFFSET')) {
        const now = await this.#store.getUpload(id);
        throw rangeInvalid(id, offset, now?.offset ?? offset);
      }
      if (isStorageError(error) || isRegistryError(error)) throw error;
      throw new RegistryError('BLOB_UPLOAD_INVALID', {
        message: `the body of upload ${id} broke off (${error instanceof Error ? error.message : String(error)}): the bytes received are kept, resume from the upload's offset`,
        detail: { id },
        cause: error,
      });
    }
  }

  /** The session, if it exists and belongs to this repository and image; else BLOB_UPLOAD_UNKNOWN. */
  async #owned(image: string, id: string): Promise<UploadState> {
    const state = await this.#store.getUpload(id).catch((error: unknown) => {
      if (isStorageError(error, 'STORAGE_INVALID_KEY') || isStorageError(error, 'STORAGE_UPLOAD_UNKNOWN')) {
        return undefined;
      }
      throw error;
    });
    const owner = state?.owner as Partial<UploadOwner> | undefined;
    if (state === undefined || owner?.repository !== this.#repository || owner.image !== image) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', {
        message: `upload ${id} is not an upload of ${image} in repository ${this.#repository}`,
        detail: { name: image, id },
      });
    }
    return state;
  }

  async #mountable(digest: Digest, from: string | undefined): Promise<BlobInfo | undefined> {
    if (from !== undefined) {
      if (!(await this.#ensureLinked(from, digest))) return undefined;
    } else {
      let found = false;
      for (const image of await this.#meta.listImages()) {
        if (await this.#meta.isBlobLinked(image, digest)) {
          found = true;
          break;
        }
      }
      if (!found) return undefined;
    }
    return this.#ensureStored(digest);
  }
}

function rangeInvalid(id: string, offset: number, current: number): RegistryError {
  return new RegistryError('RANGE_INVALID', {
    message: `upload ${id} is at offset ${current}, the chunk starts at ${offset}: resume from ${current}`,
    detail: { id, offset: current },
  });
}
