/**
 * The one translation of storage failures into what a registry client sees. Repositories call it
 * at their boundary, so a `StorageError` never reaches the HTTP layer; codes whose meaning depends
 * on what was asked (a missing blob, a missing manifest) are decided by the caller beforehand.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isRegistryError, RegistryError } from '../oci/errors.ts';
import { isStorageError } from '../storage/errors.ts';

/** What a refusal by `maxUploadBytes` suggests as `Retry-After`: long enough for other uploads to move on. */
export const UPLOAD_LIMIT_RETRY_AFTER_SECONDS = 10;

/**
 * Maps `error` to a `RegistryError`. Registry errors pass through unchanged; an I/O failure or
 * anything unexpected is logged here with its cause and reaches the client as a bare 500, so
 * that paths, bucket names and stack traces stay in the log.
 */
export function toRegistryError(error: unknown, log: FastifyBaseLogger, operation: string): RegistryError {
  if (isRegistryError(error)) return error;
  if (isStorageError(error)) {
    switch (error.code) {
      case 'STORAGE_DIGEST_MISMATCH':
        return new RegistryError('DIGEST_INVALID', { message: error.message, cause: error });
      case 'STORAGE_SIZE_MISMATCH':
        return new RegistryError('SIZE_INVALID', { message: error.message, cause: error });
      case 'STORAGE_UPLOAD_UNKNOWN':
        return new RegistryError('BLOB_UPLOAD_UNKNOWN', { cause: error });
      case 'STORAGE_UPLOAD_OFFSET':
        return new RegistryError('RANGE_INVALID', { message: error.message, cause: error });
      case 'STORAGE_INVALID_KEY':
        return new RegistryError('NAME_INVALID', { message: error.message, cause: error });
      case 'STORAGE_NOT_FOUND':
        // Something vanished between a check and its use (a concurrent delete): say so plainly.
        return new RegistryError('BLOB_UNKNOWN', { message: error.message, cause: error });
      case 'STORAGE_PRECONDITION_FAILED':
        log.warn({ err: error, operation }, 'concurrent modification in the blob store');
        return new RegistryError('UNAVAILABLE', {
          message: 'a concurrent change to the same object won: retry the request',
          headers: { 'Retry-After': '1' },
          cause: error,
        });
      case 'STORAGE_FULL': {
        // The path and errno stay in the log; the client learns which store is full and what to do.
        log.error({ err: error, operation, store: error.store }, 'blob store is full');
        const store = error.store ?? 'of this repository';
        const why =
          error.full === 'quota'
            ? 'its bucket has reached its quota (or the S3 cluster has no room); raise the quota, free space, or delete images and run garbage collection'
            : 'no space left on its volume; free space or grow the volume';
        return new RegistryError('STORE_FULL', {
          message: `blob store ${store} is full: ${why}; the push can be retried`,
          detail: error.store !== undefined ? { blobStore: error.store } : undefined,
          cause: error,
        });
      }
      case 'STORAGE_UPLOAD_LIMIT':
        // A passing state, not a broken store: other uploads finish or are deleted after the
        // store's uploadTimeout, so a retry later succeeds; 429 is what clients retry.
        log.warn({ operation, store: error.store, ...error.uploads }, 'upload refused: maxUploadBytes reached');
        return new RegistryError('TOOMANYREQUESTS', {
          message: error.message,
          detail: error.uploads && {
            blobStore: error.store,
            maxUploadBytes: error.uploads.maxBytes,
            inProgressBytes: error.uploads.inProgressBytes,
          },
          headers: { 'Retry-After': String(UPLOAD_LIMIT_RETRY_AFTER_SECONDS) },
          cause: error,
        });
      case 'STORAGE_IO':
        break;
    }
  }
  log.error({ err: error, operation }, 'repository operation failed');
  return new RegistryError('UNKNOWN', { cause: error });
}
