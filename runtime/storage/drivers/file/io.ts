/**
 * Small filesystem helpers of the file driver: errno matching, durable atomic replacement of a
 * small document, and wrapping unexpected failures in `STORAGE_IO`.
 */
import { mkdir, open, rename, rm, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isStorageError, StorageError } from '../../errors.ts';

/** The errno code (`ENOENT` …) of a Node fs error, or undefined. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when `error` says a path (or one of its parents) does not exist as needed. */
export function isMissing(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** True when `error` says the filesystem is out of space (ENOSPC) or the owner's quota is (EDQUOT). */
export function isNoSpace(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Storage errors pass through; out of space becomes `STORAGE_FULL`, anything else `STORAGE_IO`,
 * with the cause kept for the log.
 */
export function toStorageIo(error: unknown, action: string): StorageError {
  if (isStorageError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError(isNoSpace(error) ? 'STORAGE_FULL' : 'STORAGE_IO', `${action}: ${reason}`, { cause: error });
}

/**
 * `pipeline(body, sink)`, telling whose fault a failure is, as the BlobStore contract asks: a
 * failure of the body (the client went away, bad framing) is rethrown as is; a failure of the
 * store's side (the disk: EIO …) becomes `STORAGE_IO` (`STORAGE_FULL` for ENOSPC), never passed
 * off as the client's.
 * The side that emits the first 'error' is the origin: `pipeline` then destroys the other stream
 * with that same error, so the error alone cannot tell. A `through` stage between them (the upload
 * cap's meter) fails with a `StorageError` of its own, which is rethrown as it is.
 */
export async function pipeBody(body: Readable, sink: Writable, action: string, through?: Transform): Promise<void> {
  let storeFailed = false;
  let settled = body.destroyed; // a body that broke before the write began is the origin
  const onBodyError = () => {
    settled = true;
  };
  const onStoreError = () => {
    if (!settled) storeFailed = true;
    settled = true;
  };
  body.on('error', onBodyError);
  sink.on('error', onStoreError);
  try {
    await (through === undefined ? pipeline(body, sink) : pipeline(body, through, sink));
  } catch (error) {
    throw storeFailed ? toStorageIo(error, action) : error;
  } finally {
    body.off('error', onBodyError);
    sink.off('error', onStoreError);
  }
}

/**
 * Makes `file` (verified content) visible as the blob at `target` with one rename, unless the blob
 * is already there (then its modification time is set to now): content addressing makes both
 * copies equal, and the caller removes `file` either way. Throws `STORAGE_IO`.
 */
export async function publishBlob(file: string, target: string): Promise<void> {
  try {
    // Present already: a new write time, so garbage collection's grace period counts from this
    // write too (docs/gc.md). Gone meanwhile (ENOENT): publish this copy instead.
    const now = new Date();
    await utimes(target, now, now);
  } catch (error) {
    if (!isMissing(error)) throw toStorageIo(error, `publishing blob ${target}`);
    await renameInto(file, target).catch((renameError: unknown) => {
      throw toStorageIo(renameError, `publishing blob ${target}`);
    });
  }
}

/**
 * Writes `data` to `temp`, flushes it to disk, and renames it onto `target` (creating the parent
 * folders), so readers see the old or the new content, never a mix, and a crash leaves at worst a
 * stray temp file. A failed write (ENOSPC) removes the temp at once. A parent folder removed
 * concurrently (by an empty-folder prune) is recreated: the rename is retried a few times.
 */
export async function replaceFile(temp: string, target: string, data: Buffer | string): Promise<void> {
  const handle = await open(temp, 'wx');
  try {
    try {
      await handle.writeFile(data);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await renameInto(temp, target);
}

/**
 * `rename(from, to)`, creating `to`'s parents when the rename says they are missing (usually they
 * exist: trying the rename first saves a `mkdir` round trip on every write); on failure `from` is
 * removed and the error thrown.
 */
export async function renameInto(from: string, to: string): Promise<void> {
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(from, to);
        return;
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT' || attempt >= 4) throw error;
      }
      await mkdir(dirname(to), { recursive: true });
    }
  } catch (error) {
    await rm(from, { force: true });
    throw error;
  }
}
