/**
 * The one translation of storage errors (runtime/repositories/storage-errors.ts): a full store is
 * `507 STORE_FULL` naming the store and saying what to do, without paths; the upload cap is a
 * retryable `429 TOOMANYREQUESTS` with its figures; I/O failures stay a bare 500.
 */
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { toRegistryError } from '../../../runtime/repositories/storage-errors.ts';
import { StorageError } from '../../../runtime/storage/errors.ts';
import { UploadBudget } from '../../../runtime/storage/upload-budget.ts';

function fakeLog() {
  return { error: vi.fn(), warn: vi.fn(), info: vi.fn() } as unknown as FastifyBaseLogger & {
    error: ReturnType<typeof vi.fn>;
    warn: ReturnType<typeof vi.fn>;
  };
}

describe('toRegistryError', () => {
  it('STORAGE_FULL → 507 STORE_FULL naming the store, the path only in the log', () => {
    const log = fakeLog();
    const cause = new StorageError(
      'STORAGE_FULL',
      "writing blob sha256:ab: no space left (ENOSPC): ENOSPC: no space left on device, open '/srv/data/tmp/blob-1'",
      { store: 'default' },
    );
    const error = toRegistryError(cause, log, 'putBlob');
    expect(error.status).toBe(507);
    expect(error.code).toBe('STORE_FULL');
    expect(error.message).toBe(
      'blob store default is full: no space left on its volume; free space or grow the volume; the push can be retried',
    );
    expect(error.toJSON()).toEqual({
      errors: [{ code: 'STORE_FULL', message: error.message, detail: { blobStore: 'default' } }],
    });
    expect(JSON.stringify(error.toJSON())).not.toContain('/srv/data');
    expect(log.error).toHaveBeenCalledOnce();
  });

  it('STORAGE_UPLOAD_LIMIT → 429 TOOMANYREQUESTS with the figures and Retry-After, logged as a warning', () => {
    const log = fakeLog();
    const cause = new UploadBudget('default', 1000).reserve();
    const refusal = (() => {
      try {
        cause.take(1001);
      } catch (error) {
        return error;
      }
    })();
    const error = toRegistryError(refusal, log, 'appendUpload');
    expect([error.status, error.code]).toEqual([429, 'TOOMANYREQUESTS']);
    expect(error.message).toMatch(
      /^blob store default: uploads in progress hold 0 bytes of its maxUploadBytes cap of 1000 bytes/,
    );
    expect(error.headers).toEqual({ 'Retry-After': '10' });
    expect(error.toJSON().errors[0]?.detail).toEqual({
      blobStore: 'default',
      maxUploadBytes: 1000,
      inProgressBytes: 0,
    });
    expect(log.warn).toHaveBeenCalledOnce();
    expect(log.error).not.toHaveBeenCalled();
  });

  it('STORAGE_IO stays a bare 500 UNKNOWN', () => {
    const error = toRegistryError(new StorageError('STORAGE_IO', 'EIO at /srv/data'), fakeLog(), 'putBlob');
    expect([error.status, error.code, error.message]).toEqual([500, 'UNKNOWN', 'unknown error']);
  });
});
