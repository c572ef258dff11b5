/**
 * The metadata half of the file driver: one file per key under `meta/` (see storage/paths.ts).
 *
 * Writes go through a temp file and one rename (atomic replace; concurrent writers of one key:
 * the last rename wins, each document whole). Deleting a document prunes the folders it leaves
 * empty, so `listMeta` never shows a folder without documents; a put racing with that prune
 * recreates the folder and retries its rename.
 *
 * Limitation of a filesystem: a key cannot be both a document and the prefix of other documents
 * (`a` and `a/b`); such a put throws `STORAGE_INVALID_KEY`. The project's layouts only store
 * documents at leaves.
 */
import * as fs from 'node:fs';
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StorageError } from '../../errors.ts';
import { errnoOf, isMissing, replaceFile, toStorageIo } from './io.ts';
import type { FileStorePaths } from './paths.ts';

/**
 * Metadata documents are small: most fit in one read of this size. Under 4 KiB, `allocUnsafe`
 * slices Node's shared pool instead of allocating (and later collecting) a buffer per read.
 */
const FIRST_READ_BYTES = 2048;

/**
 * Reads a whole (small) file with the callback fs API: open, one read, and a close that is not
 * waited for — two thread-pool round trips instead of `readFile`'s four (open, fstat, read, close),
 * and no FileHandle or promise per step. Metadata documents are read on every request (a tag on
 * every manifest GET, a link on every blob HEAD), so this is on the hot path. A document larger
 * than the first read falls back to `readFile`.
 *
 * Why the unawaited close is safe: the close is queued on the thread pool (FIFO) before any later
 * open, so descriptors do not pile up — open fds stay bounded by the reads in flight (measured:
 * peak = concurrency + base at 200…5000 concurrent reads, back to base after). Its error is
 * ignored on purpose: the fd was opened read-only and used once, so a close cannot lose data.
 */
export function readSmallFile(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fs.open(file, 'r', (openError, fd) => {
      if (openError) return reject(openError);
      const buffer = Buffer.allocUnsafe(FIRST_READ_BYTES);
      fs.read(fd, buffer, 0, FIRST_READ_BYTES, 0, (readError, bytesRead) => {
        fs.close(fd, () => {});
        if (readError) return reject(readError);
        if (bytesRead < FIRST_READ_BYTES) return resolve(Buffer.from(buffer.subarray(0, bytesRead)));
        fs.readFile(file, (error, data) => (error ? reject(error) : resolve(data)));
      });
    });
  });
}

/** Metadata documents of one store root. */
export class FileMeta {
  readonly #paths: FileStorePaths;

  constructor(paths: FileStorePaths) {
    this.#paths = paths;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const file = this.#paths.metaFile(key);
    try {
      return await readSmallFile(file);
    } catch (error) {
      if (isMissing(error) || errnoOf(error) === 'EISDIR') return undefined;
      throw toStorageIo(error, `reading metadata ${key}`);
    }
  }

  async put(key: string, value: Buffer | string): Promise<void> {
    const file = this.#paths.metaFile(key);
    try {
      await replaceFile(this.#paths.temp('meta'), file, value);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
        throw new StorageError('STORAGE_INVALID_KEY', `metadata key ${key} collides with a document or folder`, {
          cause: error,
        });
      }
      throw toStorageIo(error, `writing metadata ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.#paths.metaFile(key);
    try {
      await unlink(file);
    } catch (error) {
      const code = errnoOf(error);
      if (isMissing(error) || code === 'EISDIR' || code === 'EPERM') return;
      throw toStorageIo(error, `deleting metadata ${key}`);
    }
    await this.#prune(dirname(file));
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.#paths.metaDir(prefix);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw toStorageIo(error, `listing metadata ${prefix}`);
    }
    const names: string[] = [];
    for (const entry of entries) {
      if (entry.isFile() || (entry.isDirectory() && (await hasDocument(join(dir, entry.name))))) names.push(entry.name);
    }
    return names.sort(); // UTF-16 order, which is byte order for keys (ASCII)
  }

  /** Removes `dir` and its parents while empty, up to (not including) `meta/`. */
  async #prune(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(`${this.#paths.meta}/`); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (ENOTEMPTY/EEXIST), already gone, or busy: stop here
      }
    }
  }
}

/** True when `dir` holds at least one file at any depth (a crash may leave empty folders). */
async function hasDocument(dir: string): Promise<boolean> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (entry.isFile()) return true;
    if (entry.isDirectory() && (await hasDocument(join(dir, entry.name)))) return true;
  }
  return false;
}
