/**
 * The running hash of one file the file driver is writing (a blob's temp file, an upload's data
 * file), fed by the sink after each write (file-sink.ts `onWritten`).
 *
 * Small files are hashed on the event loop from the buffers just written: below
 * {@link INLINE_HASH_BYTES} a worker round trip costs more than the hash. Past that, the file's
 * worker (file-hash-pool.ts) hashes what the file holds, reading it back, so that the event loop
 * only moves bytes. The hash follows the file, not the stream: a write that starts anywhere but
 * where the hash ends (a retried append after debris was cut off) hands the job to the worker,
 * which starts over from byte 0 when it must.
 */
import { createHash, type Hash } from 'node:crypto';
import type { DigestAlgorithm } from '../../../oci/digest.ts';
import type { Digest } from '../../blob-store.ts';
import type { FileHashPool } from './hash-pool.ts';

/**
 * Files shorter than this are hashed on the event loop, from the written buffers. Shorter, not up
 * to: a larger blob's first write is one whole batch of this size (file-sink.ts), and hashed
 * inline it would be hashed again by the worker, which starts a file at byte 0.
 */
export const INLINE_HASH_BYTES = 1024 * 1024;

/** See the module comment. */
export class FileHash {
  readonly algorithm: DigestAlgorithm;
  readonly #pool: FileHashPool;
  readonly #file: string;
  readonly #job: number;
  /** The inline hash, until the file outgrows it (then the worker's job holds the state). */
  #inline: Hash | undefined;
  #offset = 0;
  /** True once the worker holds a state for this file (to be dropped). */
  #inWorker = false;

  constructor(pool: FileHashPool, file: string, algorithm: DigestAlgorithm) {
    this.algorithm = algorithm;
    this.#pool = pool;
    this.#file = file;
    this.#job = pool.newJob();
    this.#inline = createHash(algorithm);
  }

  /** Bytes of the file the hash covers (or will, once the worker has read what it was given). */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Bytes `[from, to)` of the file were written, from `buffers` when the write was whole. Bound,
   * so that it can be handed to a sink as is.
   */
  readonly written = (from: number, to: number, buffers?: readonly Buffer[]): void => {
    const inline = this.#inline;
    if (inline !== undefined && buffers !== undefined && from === this.#offset && to < INLINE_HASH_BYTES) {
      for (const buffer of buffers) inline.update(buffer);
      this.#offset = to;
      return;
    }
    this.#inline = undefined;
    this.#inWorker = true;
    this.#pool.feed(this.#job, this.#file, this.algorithm, from, to);
    this.#offset = to;
  };

  /**
   * The digest of the first `size` bytes of the file. Rejects when the file is shorter (or cannot
   * be read); the caller turns that into its storage error.
   */
  async digest(size: number): Promise<Digest> {
    if (this.#inline !== undefined && this.#offset === size) {
      return `${this.algorithm}:${this.#inline.copy().digest('hex')}`;
    }
    // Past `size` the hash may cover bytes that are not part of the blob: the worker starts over.
    this.#inWorker = true;
    return this.#pool.digest(this.#job, this.#file, this.algorithm, Math.min(this.#offset, size), size);
  }

  /** Frees the worker's state of this file. */
  dispose(): void {
    if (this.#inWorker) this.#pool.drop(this.#job);
    this.#inWorker = false;
    this.#inline = undefined;
  }
}
