/**
 * Small filesystem helpers of the file driver: errno matching, durable atomic replacement of a
 * small document, and wrapping unexpected failures in `STORAGE_IO`.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
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

/** Storage errors pass through; anything else becomes `STORAGE_IO` with the cause kept for the log. */
export function toStorageIo(error: unknown, action: string): StorageError {
  if (isStorageError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError('STORAGE_IO', `${action}: ${reason}`, { cause: error });
}

/**
 * Writes `data` to `temp`, flushes it to disk, and renames it onto `target` (creating the parent
 * folders), so readers see the old or the new content, never a mix, and a crash leaves at worst a
 * stray temp file. A parent folder removed concurrently (by an empty-folder prune) is recreated:
 * the rename is retried a few times.
 */
export async function replaceFile(temp: string, target: string, data: Buffer | string): Promise<void> {
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await renameInto(temp, target);
}

/** `rename(from, to)` after creating `to`'s parents; on failure `from` is removed and the error thrown. */
export async function renameInto(from: string, to: string): Promise<void> {
  try {
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(to), { recursive: true });
      try {
        await rename(from, to);
        return;
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT' || attempt >= 4) throw error;
      }
    }
  } catch (error) {
    await rm(from, { force: true });
    throw error;
  }
}
