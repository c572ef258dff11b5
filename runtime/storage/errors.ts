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
   * The store has no room left (a file store: ENOSPC or EDQUOT; S3: a bucket or user quota, a full
   * cluster). The write that hit it left
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
  /** `STORAGE_FULL`: what ran out, a volume (file store, the default) or a quota (an S3 bucket or user). */
  full?: 'volume' | 'quota';
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
  readonly full: 'volume' | 'quota' | undefined;
  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.store = options.store;
    this.uploads = options.uploads;
    this.full = options.full;
  }
}

export function isStorageError(value: unknown, code?: StorageErrorCode): value is StorageError {
  return value instanceof StorageError && (code === undefined || value.code === code);
}

/**
 * A write's outcome, with the store's plan name put on a `STORAGE_FULL` that lacks it (the parts
 * below a store do not know its name, and the client's message names the store that is full).
 */
export async function nameFullStore<T>(store: string, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (!isStorageError(error, 'STORAGE_FULL') || error.store !== undefined) throw error;
    throw new StorageError('STORAGE_FULL', error.message, {
      cause: error.cause,
      store,
      ...(error.full === undefined ? {} : { full: error.full }),
    });
  }
}
