/**
 * The one error type below the HTTP boundary in storage: what every blob-store driver throws, with
 * a stable `code`. The repository implementations translate them into `RegistryError`s
 * (runtime/oci/errors.ts), once (runtime/repositories/storage-errors.ts).
 */

export type StorageErrorCode =
  | 'STORAGE_NOT_FOUND'
  | 'STORAGE_DIGEST_MISMATCH'
  | 'STORAGE_SIZE_MISMATCH'
  | 'STORAGE_UPLOAD_UNKNOWN'
  | 'STORAGE_UPLOAD_OFFSET'
  | 'STORAGE_PRECONDITION_FAILED'
  | 'STORAGE_INVALID_KEY'
  /**
   * The store has no room left (a file store: ENOSPC or EDQUOT). The write that hit it left
   * nothing behind (see the BlobStore contract); writes succeed again once space returns.
   */
  | 'STORAGE_FULL'
  /**
   * An append would take the store's uploads in progress past its `maxUploadBytes` (with the
   * figures in `uploads`). Nothing of that append is kept: the session stays at the offset it had.
   */
  | 'STORAGE_UPLOAD_LIMIT'
  | 'STORAGE_IO';

/** Options of {@link StorageError}. */
export interface StorageErrorOptions {
  cause?: unknown;
  /** The plan's name of the store that failed, when the error says something about it (`STORAGE_FULL`). */
  store?: string;
  /** `STORAGE_UPLOAD_LIMIT`: the store's cap and what its uploads in progress held when refused. */
  uploads?: UploadLimitFigures;
}

/** The figures a `STORAGE_UPLOAD_LIMIT` refusal carries, in bytes. */
export interface UploadLimitFigures {
  readonly maxBytes: number;
  readonly inProgressBytes: number;
}

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly store: string | undefined;
  readonly uploads: UploadLimitFigures | undefined;
  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.store = options.store;
    this.uploads = options.uploads;
  }
}

export function isStorageError(value: unknown, code?: StorageErrorCode): value is StorageError {
  return value instanceof StorageError && (code === undefined || value.code === code);
}
