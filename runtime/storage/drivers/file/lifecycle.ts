/**
 * The garbage-collection half of the file driver (`BlobLifecycle` in storage/blob-store.ts):
 * listing blobs with their write times, quarantine under `gc/quarantine/` (paths.ts), and the
 * compare-and-swap on metadata that the GC lease uses.
 *
 * Quarantine and restore are one `rename` each, atomic on one filesystem, and a rename keeps the
 * inode: a reader that opened the blob before goes on reading it to its end, and the file's
 * modification time travels with it.
 */
import { type Dirent, constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest } from '../../../oci/digest.ts';
import type { Digest, StoredBlob, VersionedMeta } from '../../blob-store.ts';
import { errnoOf, isMissing, replaceFile, toStorageIo } from './io.ts';
import type { FileStorePaths } from './paths.ts';

/** Stats of one listing batch run together (each is one thread-pool round trip). */
const STAT_BATCH = 64;
/** A lock file older than this was left by a crashed process (a CAS holds it for milliseconds). */
const STALE_LOCK_MS = 10_000;
/** How long a CAS waits for another one on the same key before giving up. */
const LOCK_WAIT_MS = 5_000;

/** See the module comment. */
export class FileLifecycle {
  readonly #paths: FileStorePaths;

  constructor(paths: FileStorePaths) {
    this.#paths = paths;
  }

  listBlobs(): AsyncIterable<StoredBlob> {
    return listTree(this.#paths.blobs, true);
  }

  async *listQuarantined(): AsyncIterable<Digest> {
    for await (const blob of listTree(this.#paths.quarantine, false)) yield blob.digest;
  }

  async quarantineBlob(digest: Digest): Promise<boolean> {
    return this.#move(this.#paths.blob(digest), this.#paths.quarantined(digest), `quarantining blob ${digest}`);
  }

  async restoreBlob(digest: Digest): Promise<boolean> {
    const visible = this.#paths.blob(digest);
    if (await exists(visible)) {
      await this.purgeBlob(digest); // the same content is visible again (pushed anew): drop the copy
      return true;
    }
    if (await this.#move(this.#paths.quarantined(digest), visible, `restoring blob ${digest}`)) return true;
    return exists(visible); // restored meanwhile by another writer, or by the GC itself
  }

  async purgeBlob(digest: Digest): Promise<void> {
    try {
      await rm(this.#paths.quarantined(digest), { force: true });
    } catch (error) {
      throw toStorageIo(error, `purging blob ${digest}`);
    }
  }

  async getMetaVersioned(key: string): Promise<VersionedMeta | undefined> {
    const file = this.#paths.metaFile(key);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error) || errnoOf(error) === 'EISDIR') return undefined;
      throw toStorageIo(error, `reading metadata ${key}`);
    }
    try {
      const [info, value] = [await handle.stat({ bigint: true }), await handle.readFile()];
      return { value, version: `${info.ino}-${info.mtimeNs}` };
    } finally {
      await handle.close();
    }
  }

  /**
   * Compare-and-swap under a per-key lock file (`open` with `wx`: one creator wins). Every write
   * replaces the document through a new inode (io.ts `replaceFile`), so inode and mtime make a
   * version no plain `putMeta` can fake.
   */
  async putMetaIf(key: string, value: Buffer | string, version: string | null): Promise<boolean> {
    const file = this.#paths.metaFile(key);
    const lock = this.#paths.lock(key);
    await this.#lock(lock, key);
    try {
      const current = await this.getMetaVersioned(key);
      if (version === null ? current !== undefined : current?.version !== version) return false;
      await replaceFile(this.#paths.temp('meta'), file, value);
      return true;
    } catch (error) {
      throw toStorageIo(error, `writing metadata ${key}`);
    } finally {
      await unlink(lock).catch(() => {});
    }
  }

  async #lock(lock: string, key: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await open(lock, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY);
        await handle.close();
        return;
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') {
          await mkdir(dirname(lock), { recursive: true });
          continue;
        }
        if (errnoOf(error) !== 'EEXIST') throw toStorageIo(error, `locking metadata ${key}`);
      }
      const held = await lstat(lock).catch(() => undefined);
      if (held !== undefined && Date.now() - held.mtimeMs > STALE_LOCK_MS) await unlink(lock).catch(() => {});
      if (Date.now() > deadline) {
        throw toStorageIo(new Error('another writer holds the lock'), `locking metadata ${key}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** `rename(from, to)`, creating `to`'s folder. False when `from` does not exist. */
  async #move(from: string, to: string, action: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(from, to);
        return true;
      } catch (error) {
        if (!isMissing(error)) throw toStorageIo(error, action);
        if (!(await exists(from))) return false;
        if (attempt >= 4) throw toStorageIo(error, action);
      }
      await mkdir(dirname(to), { recursive: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw toStorageIo(error, `stat of ${path}`);
  }
}

/** Names in `dir`, or none when it does not exist. */
async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return [];
    throw toStorageIo(error, `listing ${dir}`);
  }
}

/**
 * The blobs of a `<root>/<algorithm>/<2 hex>/<hex>` tree, one fan-out folder at a time (memory
 * holds one folder's names). `withStat`: size and mtime too (else 0). Names that are not digests
 * (debris, a stray file) are skipped: a digest names every blob.
 */
async function* listTree(root: string, withStat: boolean): AsyncIterable<StoredBlob> {
  for (const algorithm of await entries(root)) {
    if (!algorithm.isDirectory()) continue;
    for (const fan of await entries(join(root, algorithm.name))) {
      if (!fan.isDirectory()) continue;
      const folder = join(root, algorithm.name, fan.name);
      const names = (await entries(folder))
        .filter((entry) => entry.isFile() && isDigest(`${algorithm.name}:${entry.name}`))
        .map((entry) => entry.name);
      for (let i = 0; i < names.length; i += STAT_BATCH) {
        const batch = names.slice(i, i + STAT_BATCH);
        const stats = withStat
          ? await Promise.all(batch.map((name) => lstat(join(folder, name)).catch(() => undefined)))
          : [];
        for (const [j, name] of batch.entries()) {
          const info = stats[j];
          if (withStat && info === undefined) continue; // removed since the listing
          yield { digest: `${algorithm.name}:${name}`, size: info?.size ?? 0, modifiedAt: info?.mtimeMs ?? 0 };
        }
      }
    }
  }
}
