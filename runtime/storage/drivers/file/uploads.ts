/**
 * Upload sessions of the file driver, persisted under `uploads/<id>/` (see storage/paths.ts) so
 * that a session survives a restart and can be continued by another process on the same root.
 *
 * `state.json` is the authority on the offset; `data` may hold more bytes after a crash midway
 * through an append (written but not yet recorded), which the next append or the commit cuts off.
 *
 * A failed append stream (client gone, body error) **keeps** the bytes that reached the file: the
 * file is flushed, the offset set to its size, and the error rethrown; the client resumes from the
 * offset it reads back (`GET` on the upload), as the distribution spec intends. A failure of the
 * disk instead is `STORAGE_IO` and leaves the recorded offset as it was (the next append cuts off
 * whatever was written); `pipeBody` (file-io.ts) tells the two apart. A full disk (ENOSPC, EDQUOT)
 * is `STORAGE_FULL`, and the bytes past the recorded offset are cut off at once, to give the space
 * back; the session stays at its recorded offset.
 *
 * Durability: an append does not wait for its bytes to reach the disk (its sink flushes them in
 * the background every 8 MiB, so that the commit finds little left to sync); the commit syncs
 * (`fdatasync` of the data file before it is renamed into `blobs/`), so a committed blob survives
 * a power loss, and one sync per blob is what the distribution registry does too. What a power loss can cost is an acknowledged
 * chunk of an upload still in progress: `state.json` may then record more bytes than reached the
 * disk. That is caught, never published: without this instance's hash state the commit hashes the
 * data file from disk, so missing or zeroed bytes make it a digest (or size) mismatch, and the
 * client pushes the blob again. (A crash of the process alone loses nothing: the kernel has the bytes.)
 *
 * Accounting: every session's recorded offset is in the store's {@link UploadBudget}, and an
 * append takes its chunks from it as they arrive when the store has a `maxUploadBytes` cap; an
 * append refused by the cap (`STORAGE_UPLOAD_LIMIT`) is cut off like one that ran out of space.
 *
 * Hashing: each session has a running sha256 of its data file in this instance (file-hash.ts: on
 * the event loop while small, then in the store's worker, which reads the file back), fed by every
 * append's writes; commit then only waits for the last bytes. The state is used only when it ends
 * exactly where the session's recorded offset does; when it does not (a restart, another process
 * appended, an append the disk failed, a sha512 digest), a fresh one hashes the data file from
 * disk: correct, only slower.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseDigest, verifyContent } from '../../../oci/digest.ts';
import type { BlobInfo, Digest, UploadState } from '../../blob-store.ts';
import { isStorageError, StorageError } from '../../errors.ts';
import { newUploadId } from '../../keys.ts';
import type { UploadBudget } from '../../upload-budget.ts';
import { FileHash } from './hash.ts';
import type { FileHashPool } from './hash-pool.ts';
import { isMissing, pipeBody, publishBlob, replaceFile, toStorageIo } from './io.ts';
import { readSmallFile } from './meta.ts';
import type { FileStorePaths } from './paths.ts';
import { FileSink, FLUSH_EVERY_BYTES } from './sink.ts';

/** Upload sessions of one store root, with this instance's hash cache and append locks. */
export class FileUploads {
  readonly #paths: FileStorePaths;
  readonly #pool: FileHashPool;
  /** Running sha256 of each session's data file; dropped at commit, cancel, or a sweep. */
  readonly #hashes = new Map<string, FileHash>();
  /** Ids with an append or commit running in this instance. */
  readonly #busy = new Set<string>();
  readonly #budget: UploadBudget;

  constructor(paths: FileStorePaths, pool: FileHashPool, budget: UploadBudget) {
    this.#paths = paths;
    this.#pool = pool;
    this.#budget = budget;
  }

  /** True while this instance appends to or commits `id`: the sweep leaves it alone. */
  isBusy(id: string): boolean {
    return this.#busy.has(id);
  }

  async create(owner: unknown): Promise<UploadState> {
    const id = newUploadId();
    const files = this.#paths.upload(id);
    const state: UploadState = { id, offset: 0, startedAt: new Date().toISOString(), owner: owner ?? null };
    try {
      await mkdir(files.dir, { recursive: true });
      await (await open(files.data, 'wx')).close();
      await replaceFile(this.#paths.temp('state'), files.state, JSON.stringify(state));
    } catch (error) {
      await rm(files.dir, { recursive: true, force: true });
      throw toStorageIo(error, 'starting an upload');
    }
    this.#hashes.set(id, new FileHash(this.#pool, files.data, 'sha256'));
    this.#budget.record(id, 0);
    return JSON.parse(JSON.stringify(state)) as UploadState;
  }

  async get(id: string): Promise<UploadState | undefined> {
    let files: ReturnType<FileStorePaths['upload']>;
    try {
      files = this.#paths.upload(id);
    } catch {
      return undefined;
    }
    try {
      // Read on every request of an upload (twice per PATCH): the two-round-trip small read.
      return JSON.parse((await readSmallFile(files.state)).toString('utf8')) as UploadState;
    } catch (error) {
      if (isMissing(error) || error instanceof SyntaxError) return undefined;
      throw toStorageIo(error, `reading upload ${id}`);
    }
  }

  async append(id: string, offset: number, body: Readable): Promise<UploadState> {
    const state = await this.#lock(id, offset, body);
    const files = this.#paths.upload(id);
    const hash = this.#hashOf(id, files.data, offset);
    const reservation = this.#budget.reserve();
    let size = offset;
    let failure: unknown;
    try {
      // `truncate` cuts off debris of a crashed append before the first write. No sync of its
      // own: the commit syncs the data before publishing (see the module comment).
      const sink = new FileSink(files.data, {
        flags: 'r+',
        start: offset,
        truncate: true,
        flushEvery: FLUSH_EVERY_BYTES,
        onWritten: hash.written,
      });
      const meter = this.#budget.maxBytes === null ? undefined : reservation.meter();
      await pipeBody(body, sink, `appending to upload ${id}`, meter).catch((error: unknown) => {
        if (isStorageError(error)) throw error; // the disk failed, or the cap: the recorded offset stays
        failure = error; // the body failed: record the bytes that arrived, then rethrow
      });
      await sink.whenClosed();
      // A background flush that failed while the body broke off: the disk's failure wins, and the
      // recorded offset stays (the kernel reported the lost writeback once, to that flush).
      if (sink.diskError !== undefined) throw sink.diskError;
      size = sink.position; // the file ends there: truncated to `offset`, then written on from it
      const next: UploadState = { ...state, offset: size };
      await replaceFile(this.#paths.temp('state'), files.state, JSON.stringify(next));
      this.#budget.record(id, size);
      if (failure !== undefined) throw failure;
      return next;
    } catch (error) {
      if (error === failure) throw error; // the body failed: rethrown as is, the bytes kept
      const storageError = toStorageIo(error, `appending to upload ${id}`);
      if (isStorageError(storageError, 'STORAGE_FULL') || isStorageError(storageError, 'STORAGE_UPLOAD_LIMIT')) {
        await this.#cutOff(id, files.data, state.offset);
      }
      throw storageError;
    } finally {
      reservation.release();
      this.#busy.delete(id);
    }
  }

  /**
   * Out of space, or refused by the cap: what the failed append wrote past the recorded `offset`
   * is cut off at once, so that the space comes back now rather than at the next append or the sweep (the session stays,
   * at its recorded offset, and can be resumed once there is room). Best effort: a failure here
   * leaves debris the next append or the commit cuts off anyway.
   */
  async #cutOff(id: string, file: string, offset: number): Promise<void> {
    this.#forget(id); // its hash may cover bytes that are gone now
    try {
      const handle = await open(file, 'r+');
      try {
        await handle.truncate(offset);
      } finally {
        await handle.close();
      }
    } catch {
      // the session may be gone (cancelled meanwhile): nothing to free
    }
  }

  /**
   * Verifies the session against `digest` (and `expectedSize`) and moves its data into `blobs/`.
   * The session is gone afterwards, whatever the outcome.
   */
  async commit(id: string, digest: Digest, expectedSize?: number): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    const target = this.#paths.blob(digest);
    const state = await this.#lock(id, undefined);
    const files = this.#paths.upload(id);
    try {
      // The running sha256 of the session (dropped by `#forget`), or a one-off hash of another algorithm.
      const hash =
        algorithm === 'sha256'
          ? this.#hashOf(id, files.data, state.offset)
          : new FileHash(this.#pool, files.data, algorithm);
      const actual = await hash
        .digest(state.offset)
        .catch((error: unknown) => {
          throw new StorageError(
            'STORAGE_IO',
            `hashing the upload data failed (is the file shorter than its recorded offset?): ${String(error)}`,
            {
              cause: error,
            },
          );
        })
        .finally(() => {
          if (algorithm !== 'sha256') hash.dispose();
        });
      verifyContent(digest, { digest: actual, size: state.offset }, expectedSize);
      const handle = await open(files.data, 'r+');
      try {
        await handle.truncate(state.offset);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      // Moving the data out first makes a concurrent commit of the same id (another process) find nothing.
      const moving = this.#paths.temp('blob');
      await rename(files.data, moving);
      try {
        await publishBlob(moving, target);
      } finally {
        await rm(moving, { force: true });
      }
      return { digest, size: state.offset };
    } catch (error) {
      throw toStorageIo(error, `committing upload ${id}`);
    } finally {
      this.#forget(id);
      await rm(files.dir, { recursive: true, force: true });
      this.#budget.forget(id);
      this.#busy.delete(id);
    }
  }

  async cancel(id: string): Promise<void> {
    let dir: string;
    try {
      dir = this.#paths.upload(id).dir;
    } catch {
      return;
    }
    this.#forget(id);
    await rm(dir, { recursive: true, force: true });
    this.#budget.forget(id);
  }

  /**
   * Deletes session `id` if `abandoned()` says so and this instance is not appending to or
   * committing it, before or after the check: the check itself does not hold the session, so an
   * append arriving meanwhile goes ahead (and keeps the session). Only the deletion holds it; an
   * append arriving during the deletion is refused, and finds the session gone afterwards. True
   * when deleted.
   */
  async removeIf(id: string, abandoned: () => Promise<boolean>): Promise<boolean> {
    if (this.#busy.has(id) || !(await abandoned()) || this.#busy.has(id)) return false;
    this.#busy.add(id);
    try {
      await this.cancel(id);
      return true;
    } finally {
      this.#busy.delete(id);
    }
  }

  /** Drops cached hash states of sessions that no longer exist (after a sweep). */
  async forgetMissing(): Promise<void> {
    for (const id of [...this.#hashes.keys()]) {
      if (!this.#busy.has(id) && (await this.get(id)) === undefined) this.#forget(id);
    }
  }

  /**
   * The session's running hash when it ends at `offset` (the recorded offset an append starts
   * from or a commit ends at); otherwise a fresh one in its place, which hashes the data file from
   * byte 0 when asked (see the module comment).
   */
  #hashOf(id: string, file: string, offset: number): FileHash {
    const cached = this.#hashes.get(id);
    if (cached !== undefined && cached.offset === offset) return cached;
    cached?.dispose();
    const fresh = new FileHash(this.#pool, file, 'sha256');
    this.#hashes.set(id, fresh);
    return fresh;
  }

  /** Reads the state, checks the offset (when given) and marks the id busy; consumes `body` on refusal. */
  async #lock(id: string, offset: number | undefined, body?: Readable): Promise<UploadState> {
    const refuse = (error: StorageError) => {
      body?.resume();
      return error;
    };
    if (this.#busy.has(id)) throw refuse(new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is busy`));
    this.#busy.add(id);
    let state: UploadState | undefined;
    try {
      state = await this.get(id);
    } catch (error) {
      this.#busy.delete(id);
      throw error;
    }
    if (state === undefined) {
      this.#busy.delete(id);
      throw refuse(new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${id} is unknown`));
    }
    if (offset !== undefined && offset !== state.offset) {
      this.#busy.delete(id);
      throw refuse(
        new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${id} is at offset ${state.offset}, not ${offset}`),
      );
    }
    return state;
  }

  #forget(id: string): void {
    this.#hashes.get(id)?.dispose();
    this.#hashes.delete(id);
  }
}
