/**
 * The file driver's blob reader: a `Readable` over an open file (or a byte range of it) that can
 * also send itself to an HTTP response with two reused buffers ({@link FileBlobStream.sendTo}).
 *
 * Why: a stream must allocate a fresh buffer for every read, because it cannot know when its
 * consumer is done with a chunk. Pulling 2 GiB that way allocates 2 GiB of 256 KiB buffers, and
 * the collector has to find them all again: profiles of a 64 MiB × 16 pull showed the server in
 * one of two modes from one start to the next, ≈ 0.4 s of CPU per GiB when V8 freed the buffers
 * with scavenges, ≈ 1.2–1.6 s when it fell into a full mark-compact every 10–20 ms (old space
 * sitting at its limit), with the pull at a third of the speed. An HTTP response does say when a
 * chunk is done with: its write callback. `sendTo` reads into buffer A, writes it, reads into B
 * meanwhile, and refills A only once A's write has completed, so a pull allocates nothing per
 * read and gives the collector nothing to do.
 *
 * Either way of consuming it is complete on its own; a stream is consumed one way only (`sendTo`
 * refuses a stream that has begun flowing, and the stream is destroyed once `sendTo` is done).
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ChunkTarget, DirectSendable } from '../../blob-store.ts';

/** Size of each read (and of each of `sendTo`'s two buffers). */
export const READ_CHUNK_BYTES = 256 * 1024;

/**
 * See the module comment. Reads `range` (`end` inclusive, as in `fs.createReadStream`), or the
 * whole file to its end without one (a blob file never changes once published).
 */
export class FileBlobStream extends Readable implements DirectSendable {
  readonly #handle: FileHandle;
  #position: number;
  /** One past the last byte to read; Infinity: to the end of the file. */
  readonly #stop: number;
  #sending = false;

  constructor(handle: FileHandle, range?: { start: number; end: number }) {
    super({ highWaterMark: READ_CHUNK_BYTES });
    this.#handle = handle;
    this.#position = range?.start ?? 0;
    this.#stop = range === undefined ? Number.POSITIVE_INFINITY : range.end + 1;
  }

  /**
   * Reads the next chunk into `buffer`; 0 at the end. A file that ends before the range does is
   * an error, not a short blob.
   */
  async #readInto(buffer: Buffer): Promise<number> {
    const length = Math.min(buffer.length, this.#stop - this.#position);
    if (length <= 0) return 0;
    const { bytesRead } = await this.#handle.read(buffer, 0, length, this.#position);
    if (bytesRead === 0 && this.#stop !== Number.POSITIVE_INFINITY) {
      throw new Error(`the blob file ended at byte ${this.#position}, before ${this.#stop}`);
    }
    this.#position += bytesRead;
    return bytesRead;
  }

  override _read(): void {
    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, this.#stop - this.#position) || 1);
    this.#readInto(buffer).then(
      (n) => this.push(n === 0 ? null : n === buffer.length ? buffer : buffer.subarray(0, n)),
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }

  async sendTo(target: ChunkTarget): Promise<void> {
    if (this.#sending || this.readableFlowing !== null || this.readableDidRead) {
      throw new Error('sendTo: the stream is already being consumed');
    }
    this.#sending = true;
    try {
      await this.#send(target);
    } finally {
      this.destroy();
    }
  }

  async #send(target: ChunkTarget): Promise<void> {
    // The second buffer is made only when the first one is still being written and more is to
    // read: a small blob costs one buffer.
    const free: Buffer[] = [Buffer.allocUnsafe(READ_CHUNK_BYTES)];
    let buffers = 1;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const wakeUp = () => {
      const resume = wake;
      wake = undefined;
      resume?.();
    };
    const sleep = () => new Promise<void>((resolve) => (wake = resolve));
    const onClose = () => {
      failure ??= new Error('the client went away before the last byte');
      wakeUp();
    };
    target.once('close', onClose);
    let inFlight = 0;
    let ended = false;
    try {
      while (!ended && failure === undefined) {
        if (free.length === 0 && buffers < 2) {
          free.push(Buffer.allocUnsafe(READ_CHUNK_BYTES));
          buffers++;
        }
        while (free.length === 0 && failure === undefined) await sleep();
        if (failure !== undefined) break;
        const buffer = free.pop() as Buffer;
        const bytesRead = await this.#readInto(buffer);
        // The end of the range; without one, a short read is the end of the file. (A range the
        // file stops short of reads on, and the next read throws.)
        ended = this.#position >= this.#stop || (this.#stop === Number.POSITIVE_INFINITY && bytesRead < buffer.length);
        if (bytesRead === 0) break;
        inFlight++;
        // No wait for 'drain': the two buffers are the back-pressure (at most two chunks are ever
        // queued in the response), and a buffer comes back only through its write callback.
        target.write(buffer.subarray(0, bytesRead), (error) => {
          inFlight--;
          if (error) failure ??= error;
          else free.push(buffer); // the response is done with it: reuse
          wakeUp();
        });
      }
      // Every write must have completed before the buffers (and the file) go away.
      while (inFlight > 0 && failure === undefined) await sleep();
      if (failure !== undefined) throw failure;
    } finally {
      target.off('close', onClose);
    }
  }
}
