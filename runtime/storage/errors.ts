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
  | 'STORAGE_IO';

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

export function isStorageError(value: unknown, code?: StorageErrorCode): value is StorageError {
  return value instanceof StorageError && (code === undefined || value.code === code);
}
