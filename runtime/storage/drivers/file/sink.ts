/**
 * The file driver's write end: a `Writable` onto one file that gathers chunks and writes them
 * with one `writev` per batch.
 *
 * Why not `fs.createWriteStream`: a request body arrives in socket-sized chunks (≤ 64 KiB), and a
 * write stream issues one thread-pool write per chunk, so a 64 MiB blob costs a thousand round
 * trips between the event loop and the pool (each a mutex, a wake-up and a completion callback on
 * the event loop, which also has to hash every byte). Batching to `batchBytes` (1 MiB by default)
 * makes that a sixty-fourth, without copying: the chunks are handed to the kernel as they are.
 * Memory stays bounded: at most one batch (plus the chunk that completed it) waits per sink.
 *
 * With `flushEvery`, an `fdatasync` starts in the background every so many bytes (one at a time,
 * the writes going on meanwhile), so that the sync that publishes a blob waits for the tail only,
 * not for the whole file to reach the disk at the end of each push.
 *
 * Contracts the callers rely on:
 * - `'finish'` means every byte written reached the file, and with `sync` also the disk
 *   (`fdatasync`): the store publishes a blob only after that;
 * - when the sink is destroyed with an error that is not its own (the body broke off), the bytes
 *   already accepted are still written before `'close'`, so an upload keeps every byte that
 *   arrived; after a failed write (the disk), nothing more is written and the error is the sink's;
 * - the file is closed before `'close'`, which `pipeline` waits for, and never under a running
 *   write or flush; a failed background flush fails the sink (the next write, or the end).
 */
import { close, fdatasync, ftruncate, open, writev } from 'node:fs';
import { Writable } from 'node:stream';

/** Bytes gathered before one `writev` (a sixteenth of the syscalls of 64 KiB writes). */
export const DEFAULT_BATCH_BYTES = 1024 * 1024;

/**
 * The file driver's `flushEvery` for blob data (a blob's temp file, an upload's data file): with
 * the sync that publishes a blob waiting for the whole file, 8 pushes of 32 MiB each waited for
 * 256 MiB to reach the disk at their ends (measured in docs/benchmarks.md).
 */
export const FLUSH_EVERY_BYTES = 8 * 1024 * 1024;

/** Options of {@link FileSink}. */
export interface FileSinkOptions {
  /** `open(2)` flags: `wx` for a fresh temp file, `r+` to continue an upload's data file. */
  readonly flags: 'wx' | 'r+';
  /** Byte position of the first write (default 0). */
  readonly start?: number;
  /** Truncate the file to `start` once open, before any write (default false). */
  readonly truncate?: boolean;
  /** `fdatasync` before `'finish'` (default false). */
  readonly sync?: boolean;
  /** Bytes gathered before a write (default {@link DEFAULT_BATCH_BYTES}). */
  readonly batchBytes?: number;
  /**
   * Every this many bytes written, start an `fdatasync` in the background (default 0: never), so
   * that the disk takes the data while more arrives and the sync that publishes the file (`sync`,
   * or the caller's own later) finds only the tail left. The writes go on meanwhile.
   */
  readonly flushEvery?: number;
  /**
   * Called after each successful write with the file range it covered, and the buffers that
   * filled it when the write was whole (a short write passes none): how the store's hash follows
   * the file (file-hash.ts). Called before the write's callback, so before `'finish'`.
   */
  readonly onWritten?: (from: number, to: number, buffers?: readonly Buffer[]) => void;
}

/** See the module comment. */
export class FileSink extends Writable {
  readonly #path: string;
  readonly #flags: 'wx' | 'r+';
  readonly #sync: boolean;
  readonly #truncate: boolean;
  readonly #batchBytes: number;
  readonly #onWritten: FileSinkOptions['onWritten'];
  readonly #flushEvery: number;
  #position: number;
  #fd: number | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /**
   * The disk's first failure (a write, a sync, a background flush): nothing more is written, and
   * a flush's failure is reported by the next write or the end.
   */
  #error: Error | undefined;
  /** Bytes written since the last background flush started. */
  #unflushed = 0;
  /** True while a background flush runs on the descriptor (it must not be closed meanwhile). */
  #flushing = false;
  /** True while a write or sync runs on the descriptor, which must not be closed meanwhile. */
  #busy = false;
  /** What `_final` or `_destroy` left to do once the running write, sync or flush is over. */
  #onIdle: (() => void)[] = [];

  constructor(path: string, options: FileSinkOptions) {
    // The stream's own buffer stays small: the batch is gathered here, where it can be bounded.
    super({ highWaterMark: 64 * 1024, decodeStrings: true });
    this.#path = path;
    this.#flags = options.flags;
    this.#sync = options.sync ?? false;
    this.#truncate = options.truncate ?? false;
    this.#batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.#onWritten = options.onWritten;
    this.#flushEvery = options.flushEvery ?? 0;
    this.#position = options.start ?? 0;
  }

  /**
   * Where the next write goes: `start` plus the bytes written so far (a batch still being gathered
   * is not counted). Once the sink has closed, where the written content ends.
   */
  get position(): number {
    return this.#position;
  }

  /**
   * The disk's failure (a write, a sync, a background flush), once there was one. A sink destroyed
   * by someone else's error reports that error, not this: a caller that records what the file
   * holds (an upload's offset) checks it once the sink has closed.
   */
  get diskError(): Error | undefined {
    return this.#error;
  }

  /**
   * Resolves once the file is closed, whatever the outcome (never rejects). `pipeline` may settle
   * on a body's failure before the sink has written what it held and closed: wait for this before
   * reading {@link position} or the file.
   */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.once('close', () => resolve()));
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, this.#flags, (error, fd) => {
      if (error) {
        callback(error);
        return;
      }
      this.#fd = fd;
      if (this.#truncate) ftruncate(fd, this.#position, callback);
      else callback();
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#error !== undefined) {
      callback(this.#error);
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= this.#batchBytes) this.#flush(callback);
    else callback();
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#error !== undefined) {
      callback(this.#error);
      return;
    }
    for (const { chunk } of chunks) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
    }
    if (this.#pendingBytes >= this.#batchBytes) this.#flush(callback);
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#flush((writeError) => {
      if (writeError) {
        callback(writeError);
        return;
      }
      if (this.#flushing) {
        // A background flush runs: its outcome is the sink's, and one sync at a time.
        this.#onIdle.push(() => this._final(callback));
        return;
      }
      if (this.#error !== undefined || !this.#sync) {
        callback(this.#error);
        return;
      }
      this.#busy = true;
      fdatasync(this.#fd as number, (syncError) => {
        if (syncError) this.#error ??= syncError;
        this.#idle();
        callback(syncError);
      });
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#busy || this.#flushing) {
      this.#onIdle.push(() => this._destroy(error, callback));
      return;
    }
    const fd = this.#fd;
    if (fd === undefined) {
      callback(error);
      return;
    }
    this.#fd = undefined;
    const closeFile = (writeError?: Error | null) =>
      close(fd, (closeError) => callback(error ?? writeError ?? closeError));
    // Bytes accepted before someone else's failure are kept (see the module comment).
    if (this.#pendingBytes > 0 && this.#error === undefined) this.#writeAll(fd, closeFile);
    else closeFile();
  }

  /** Writes the gathered batch; `callback` once it is all in the file (or failed). */
  #flush(callback: (error?: Error | null) => void): void {
    if (this.#pendingBytes === 0) callback();
    else this.#writeAll(this.#fd as number, callback);
  }

  #writeAll(fd: number, callback: (error?: Error | null) => void): void {
    const buffers = this.#pending;
    const total = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#busy = true;
    writev(fd, buffers, this.#position, (error, written) => {
      if (!error && written === 0) error = new Error(`writev wrote nothing of ${total} bytes to ${this.#path}`);
      if (error) {
        this.#error ??= error;
        this.#idle();
        callback(error);
        return;
      }
      const from = this.#position;
      this.#position += written;
      this.#unflushed += written;
      this.#onWritten?.(from, this.#position, written === total ? buffers : undefined);
      this.#maybeFlush(fd);
      if (written === total) {
        this.#idle();
        callback();
        return;
      }
      // A short write (rare on regular files): keep what is left and go on.
      this.#pending = remainder(buffers, written);
      this.#pendingBytes = total - written;
      this.#writeAll(fd, callback);
    });
  }

  /** Starts a background flush when `flushEvery` bytes were written since the last one began. */
  #maybeFlush(fd: number): void {
    // Not once destroyed: `_destroy` closes the descriptor as soon as its last write is over.
    if (this.#flushEvery === 0 || this.#flushing || this.destroyed || this.#unflushed < this.#flushEvery) return;
    this.#unflushed = 0;
    this.#flushing = true;
    fdatasync(fd, (error) => {
      this.#flushing = false;
      // Linux reports a failed writeback once per open file: this was the report, so it is kept.
      if (error) this.#error ??= error;
      if (!this.#busy) this.#idle();
    });
  }

  /** The descriptor is free again: runs what `_final` or `_destroy` deferred, if anything. */
  #idle(): void {
    this.#busy = false;
    if (this.#flushing) return; // the flush's end calls this again
    for (const deferred of this.#onIdle.splice(0)) deferred();
  }
}

/** What is left of `buffers` once their first `skip` bytes were written. */
function remainder(buffers: readonly Buffer[], skip: number): Buffer[] {
  const left: Buffer[] = [];
  let offset = skip;
  for (const buffer of buffers) {
    if (offset >= buffer.length) {
      offset -= buffer.length;
      continue;
    }
    left.push(offset > 0 ? buffer.subarray(offset) : buffer);
    offset = 0;
  }
  return left;
}
