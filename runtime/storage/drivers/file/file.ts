/**
 * `FileBlobStore`: the blob store on a local (or shared POSIX) filesystem, laid out as drawn in
 * storage/paths.ts.
 *
 * Blobs are streamed, never buffered: body → temp file under `tmp/`, flushed, verified against the
 * digest and size, then renamed into `blobs/` (atomic; when the blob is already there the temp is
 * dropped: content addressing makes both copies equal). A mismatch or a failed stream removes the
 * temp, so nothing partial is ever visible. A full disk (ENOSPC, EDQUOT) is `STORAGE_FULL` naming
 * this store, and leaves nothing of the failed write behind (the temp removed, an upload's bytes
 * past its recorded offset cut off), so writes work again as soon as there is room: no state of
 * the store remembers the failure. The hash follows the file as it is written
 * (file-hash.ts): on the event loop for small blobs, in the store's worker thread for the rest.
 * `putHashedBlob` is the same without the hash: the caller's is checked instead. Upload sessions
 * and metadata live in uploads.ts and meta.ts; listing, quarantine and compare-and-swap (for garbage
 * collection) in lifecycle.ts.
 *
 * Housekeeping: {@link FileBlobStore.sweep} removes upload sessions without activity for the
 * plan's upload timeout (abandoned: nothing written to them since) and temp files untouched for
 * `tempMaxAgeMs` (debris of killed writes), and recounts the bytes the sessions hold for the
 * `maxUploadBytes` cap (upload-budget.ts); it runs when the store opens and then every quarter of
 * the timeout (at most every 5 minutes).
 */
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { type FileBlobStorePlan, uploadsOf } from '../../../../compiler/plan.ts';
import { parseDigest, verifyContent, verifyHashed } from '../../../oci/digest.ts';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  Digest,
  HashedBlobOptions,
  StoredBlob,
  UploadState,
  VersionedMeta,
} from '../../blob-store.ts';
import { nameFullStore, StorageError } from '../../errors.ts';
import { PeriodicTask } from '../../periodic.ts';
import { UploadBudget, uploadSweepPeriodMs } from '../../upload-budget.ts';
import { FileHash } from './hash.ts';
import { FileHashPool } from './hash-pool.ts';
import { isMissing, pipeBody, publishBlob, toStorageIo } from './io.ts';
import { FileLifecycle } from './lifecycle.ts';
import { FileMeta } from './meta.ts';
import { FileStorePaths } from './paths.ts';
import { FileBlobStream } from './read-stream.ts';
import { FileSink, type FileSinkOptions, FLUSH_EVERY_BYTES } from './sink.ts';
import { FileUploads } from './uploads.ts';

/** Options of {@link createFileBlobStore}. */
export interface FileBlobStoreOptions {
  readonly log?: FastifyBaseLogger;
  /** Temp files not written to for this long are debris of a killed write (default 1 h). */
  readonly tempMaxAgeMs?: number;
  /** Sweep period (default: from the plan's upload timeout, see `uploadSweepPeriodMs`); 0 = only the sweep at open. */
  readonly sweepIntervalMs?: number;
}

/** What one sweep removed. */
export interface SweepResult {
  readonly uploads: number;
  readonly temps: number;
}

const HOUR = 60 * 60 * 1000;

/**
 * Opens (creating when needed) the store at `plan.path`, sweeps it once, and schedules the
 * periodic sweep. Throws `STORAGE_IO` when the folder cannot be created or written.
 */
export async function createFileBlobStore(
  plan: FileBlobStorePlan,
  options: FileBlobStoreOptions = {},
): Promise<FileBlobStore> {
  const store = new FileBlobStore(plan, options);
  await store.open();
  return store;
}

/** See the module comment. */
export class FileBlobStore implements BlobStore {
  readonly name: string;
  readonly paths: FileStorePaths;
  readonly #log: FastifyBaseLogger | undefined;
  readonly #uploads: FileUploads;
  readonly #meta: FileMeta;
  readonly #lifecycle: FileLifecycle;
  /** The worker hashing what this store writes (started on the first blob over 1 MiB). */
  readonly #hashes = new FileHashPool();
  /** What the upload sessions hold, against the plan's `maxUploadBytes`. */
  readonly #budget: UploadBudget;
  readonly #uploadTimeoutMs: number;
  readonly #tempMaxAgeMs: number;
  readonly #sweepIntervalMs: number;
  #sweeper: PeriodicTask | undefined;

  constructor(plan: FileBlobStorePlan, options: FileBlobStoreOptions = {}) {
    this.name = plan.name;
    this.paths = new FileStorePaths(plan.path);
    this.#log = options.log;
    const uploads = uploadsOf(plan);
    this.#budget = new UploadBudget(plan.name, uploads.maxBytes);
    this.#uploads = new FileUploads(this.paths, this.#hashes, this.#budget);
    this.#meta = new FileMeta(this.paths);
    this.#uploadTimeoutMs = uploads.timeoutMs;
    this.#lifecycle = new FileLifecycle(this.paths);
    this.#tempMaxAgeMs = options.tempMaxAgeMs ?? HOUR;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? uploadSweepPeriodMs(uploads.timeoutMs);
  }

  /** The uploads in progress as this instance counts them (see upload-budget.ts). */
  get uploadBudget(): UploadBudget {
    return this.#budget;
  }

  /** Creates the folders, runs the first sweep, starts the timer. Called by the factory. */
  async open(): Promise<void> {
    const { blobs, uploads, meta, tmp } = this.paths;
    try {
      await Promise.all([blobs, uploads, meta, tmp].map((dir) => mkdir(dir, { recursive: true })));
    } catch (error) {
      throw toStorageIo(error, `blob store "${this.name}": cannot create ${this.paths.root}`);
    }
    await this.sweep();
    if (this.#sweepIntervalMs > 0) {
      this.#sweeper = new PeriodicTask(
        this.#sweepIntervalMs,
        async () => void (await this.sweep()),
        (error) => this.#log?.warn({ err: error, store: this.name }, 'blob store sweep failed'),
      );
    }
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const file = this.paths.blob(digest);
    try {
      return { digest, size: (await stat(file)).size };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw toStorageIo(error, `stat of blob ${digest}`);
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const file = this.paths.blob(digest);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) throw new StorageError('STORAGE_NOT_FOUND', `blob ${digest} not found`, { cause: error });
      throw toStorageIo(error, `reading blob ${digest}`);
    }
    // The open handle keeps the content readable even if the blob is deleted meanwhile. 256 KiB
    // reads; served to an HTTP response, the stream reuses two buffers (file-read-stream.ts).
    return new FileBlobStream(handle, range);
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await rm(this.paths.blob(digest), { force: true });
    } catch (error) {
      throw toStorageIo(error, `deleting blob ${digest}`);
    }
  }

  createUpload(owner: unknown): Promise<UploadState> {
    return this.#named(this.#uploads.create(owner));
  }

  getUpload(id: string): Promise<UploadState | undefined> {
    return this.#uploads.get(id);
  }

  appendUpload(id: string, offset: number, body: Readable): Promise<UploadState> {
    return this.#named(this.#uploads.append(id, offset, body));
  }

  commitUpload(id: string, digest: Digest, expectedSize?: number): Promise<BlobInfo> {
    return this.#named(this.#uploads.commit(id, digest, expectedSize));
  }

  cancelUpload(id: string): Promise<void> {
    return this.#uploads.cancel(id);
  }

  async putBlob(digest: Digest, body: Readable, expectedSize?: number): Promise<BlobInfo> {
    const temp = this.paths.temp('blob');
    // The hash follows the writes (inline when small, else in the worker reading the file back).
    const hash = new FileHash(this.#hashes, temp, parseDigest(digest).algorithm);
    try {
      return await this.#named(
        this.#writeBlob(digest, body, temp, hash.written, async (size) => {
          const actual = await hash.digest(size).catch((error: unknown) => {
            throw toStorageIo(error, `hashing blob ${digest}`);
          });
          verifyContent(digest, { digest: actual, size }, expectedSize);
        }),
      );
    } finally {
      hash.dispose();
    }
  }

  /** `putBlob` without the store's hash (see the BlobStore contract): the caller's is checked. */
  putHashedBlob(digest: Digest, body: Readable, options: HashedBlobOptions): Promise<BlobInfo> {
    return this.#named(
      this.#writeBlob(digest, body, this.paths.temp('blob'), undefined, (size) =>
        verifyHashed(digest, options.hashed(), size, options.expectedSize),
      ),
    );
  }

  /**
   * The one write path of a whole blob: `body` → `temp` (a fresh name: `wx`), on disk before the
   * sink finishes (`sync`); then `verify(size)` of the bytes the file received, which throws on a
   * mismatch; then the rename into `blobs/`. The temp file is removed whatever happens.
   */
  async #writeBlob(
    digest: Digest,
    body: Readable,
    temp: string,
    onWritten: FileSinkOptions['onWritten'],
    verify: (size: number) => Promise<void> | void,
  ): Promise<BlobInfo> {
    try {
      const sink = new FileSink(temp, { flags: 'wx', sync: true, flushEvery: FLUSH_EVERY_BYTES, onWritten });
      await pipeBody(body, sink, `writing blob ${digest}`);
      await sink.whenClosed(); // `position` is final once the file is closed
      const size = sink.position;
      await verify(size);
      await publishBlob(temp, this.paths.blob(digest));
      return { digest, size };
    } finally {
      await rm(temp, { force: true });
    }
  }

  getMeta(key: string): Promise<Buffer | undefined> {
    return this.#meta.get(key);
  }

  putMeta(key: string, value: Buffer | string): Promise<void> {
    return this.#named(this.#meta.put(key, value));
  }

  deleteMeta(key: string): Promise<void> {
    return this.#meta.delete(key);
  }

  listMeta(prefix: string): Promise<string[]> {
    return this.#meta.list(prefix);
  }

  listBlobs(): AsyncIterable<StoredBlob> {
    return this.#lifecycle.listBlobs();
  }

  quarantineBlob(digest: Digest): Promise<boolean> {
    return this.#lifecycle.quarantineBlob(digest);
  }

  restoreBlob(digest: Digest): Promise<boolean> {
    return this.#lifecycle.restoreBlob(digest);
  }

  purgeBlob(digest: Digest): Promise<void> {
    return this.#lifecycle.purgeBlob(digest);
  }

  listQuarantined(): AsyncIterable<Digest> {
    return this.#lifecycle.listQuarantined();
  }

  getMetaVersioned(key: string): Promise<VersionedMeta | undefined> {
    return this.#lifecycle.getMetaVersioned(key);
  }

  putMetaIf(key: string, value: Buffer | string, version: string | null): Promise<boolean> {
    return this.#named(this.#lifecycle.putMetaIf(key, value, version));
  }

  /** A write's outcome, with this store's name on a `STORAGE_FULL` (errors.ts). */
  #named<T>(write: Promise<T>): Promise<T> {
    return nameFullStore(this.name, write);
  }

  /**
   * Removes upload sessions without activity for longer than the upload timeout, and temp files
   * untouched for the temp limit; recounts what the remaining sessions hold. A session's last
   * activity is the latest change to its folder, its data (bytes of an append being written, by
   * any process) or its state (an append recorded); a session this instance is appending to is
   * active whatever the times say. A folder without a readable state (a crash during creation)
   * goes by the same times. `now` is for tests.
   */
  async sweep(now: number = Date.now()): Promise<SweepResult> {
    let uploads = 0;
    let temps = 0;
    const generation = this.#budget.scanStarted();
    const found = new Map<string, number>();
    for (const id of await readdir(this.paths.uploads).catch(() => [] as string[])) {
      let files: ReturnType<FileStorePaths['upload']>;
      try {
        files = this.paths.upload(id);
      } catch {
        continue; // not a session folder: nothing this store made
      }
      let offset: number | undefined;
      const removed = await this.#uploads.removeIf(id, async () => {
        offset = (await this.#uploads.get(id))?.offset;
        const times = await Promise.all([files.dir, files.data, files.state].map(mtimeOf));
        const active = Math.max(...times.map((time) => time ?? Number.NEGATIVE_INFINITY));
        return Number.isFinite(active) && now - active > this.#uploadTimeoutMs;
      });
      if (removed) {
        uploads++;
        continue;
      }
      offset ??= (await this.#uploads.get(id).catch(() => undefined))?.offset; // busy here: not judged
      if (offset !== undefined) found.set(id, offset);
    }
    this.#budget.applyScan(generation, found);
    for (const name of await readdir(this.paths.tmp).catch(() => [] as string[])) {
      const file = join(this.paths.tmp, name);
      const modified = await mtimeOf(file);
      if (modified !== undefined && now - modified > this.#tempMaxAgeMs) {
        await rm(file, { recursive: true, force: true });
        temps++;
      }
    }
    if (uploads > 0) await this.#uploads.forgetMissing();
    if (uploads + temps > 0) this.#log?.info({ store: this.name, uploads, temps }, 'blob store swept');
    return { uploads, temps };
  }

  async close(): Promise<void> {
    await this.#sweeper?.close();
    this.#sweeper = undefined;
    await this.#hashes.close();
  }
}

async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}
