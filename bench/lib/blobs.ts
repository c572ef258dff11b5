/**
 * Benchmark blobs generated on the fly: a fixed pseudo-random MiB with the chunk index and a seed
 * stamped in, so blobs of any size are distinct, incompressible enough, cheap to produce, and
 * never held in memory whole. The digest is computed once, by streaming, before the run.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

/** A blob described by seed and size; `stream()` yields its bytes, `digest` is their sha256. */
export interface BenchBlob {
  readonly seed: number;
  readonly size: number;
  readonly digest: string;
  stream(): Readable;
}

function pattern(): Buffer {
  const out = Buffer.alloc(MiB);
  let offset = 0;
  for (let i = 0; offset < MiB; i++)
    offset += createHash('sha512').update(`regctl-bench:${i}`).digest().copy(out, offset);
  return out;
}

/** Bytes copied at the head of each MiB to stamp it; the rest of the MiB is sent from the pattern itself. */
const HEAD_BYTES = 4096;

/**
 * Yields the blob's bytes, a MiB at a time: a stamped copy of the MiB's first 4 KiB, then a view of
 * the rest of the shared pattern (never written to). Copying only the head keeps the client's CPU
 * per byte low (it shares the machine with the servers it measures) and the bytes the same.
 */
function* chunks(base: Buffer, seed: number, size: number): Generator<Buffer> {
  for (let offset = 0, i = 0; offset < size; offset += MiB, i++) {
    const length = Math.min(MiB, size - offset);
    const head = Buffer.from(base.subarray(0, Math.min(HEAD_BYTES, length)));
    if (head.length >= 8) {
      head.writeUInt32BE(seed, 0);
      head.writeUInt32BE(i, 4);
    }
    yield head;
    if (length > head.length) yield base.subarray(head.length, length);
  }
}

/** Makes blobs sharing one base pattern. */
export class BlobFactory {
  readonly #base = pattern();

  /** A blob of `size` bytes distinct for each seed; hashes it once to know its digest. */
  create(seed: number, size: number): BenchBlob {
    const hash = createHash('sha256');
    for (const chunk of chunks(this.#base, seed, size)) hash.update(chunk);
    const base = this.#base;
    return {
      seed,
      size,
      digest: `sha256:${hash.digest('hex')}`,
      stream: () => Readable.from(chunks(base, seed, size), { objectMode: false }),
    };
  }
}
