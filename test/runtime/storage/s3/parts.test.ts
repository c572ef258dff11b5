/**
 * PartSink (runtime/storage/drivers/s3/parts.ts) without a server: how a byte stream is cut into
 * multipart parts, that one part buffer is reused for every part (the memory contract), what stays
 * pending, and how an S3 failure surfaces. The S3 client is a recording stand-in.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { S3Connection } from '../../../../runtime/storage/drivers/s3/client.ts';
import { MIN_PART_SIZE, PartSink } from '../../../../runtime/storage/drivers/s3/parts.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';

const MiB = 1024 * 1024;

interface Recorded {
  parts: { n: number; size: number; sha256: string; memory: ArrayBufferLike }[];
  calls: string[];
}

/** A connection whose client answers multipart calls in memory and records every part. */
function fakeS3(options: { failPart?: number } = {}): { s3: S3Connection; recorded: Recorded } {
  const recorded: Recorded = { parts: [], calls: [] };
  const send = async (command: unknown) => {
    if (command instanceof CreateMultipartUploadCommand) {
      recorded.calls.push('create');
      return { UploadId: 'upload-1' };
    }
    if (command instanceof UploadPartCommand) {
      const { PartNumber, Body } = command.input as { PartNumber: number; Body: Buffer };
      recorded.calls.push(`part ${PartNumber}`);
      if (PartNumber === options.failPart) throw Object.assign(new Error('slow down'), { name: 'SlowDown' });
      const sha256 = createHash('sha256').update(Body).digest('hex');
      recorded.parts.push({ n: PartNumber, size: Body.length, sha256, memory: Body.buffer });
      return { ETag: `"etag-${PartNumber}"` };
    }
    if (command instanceof CompleteMultipartUploadCommand) {
      recorded.calls.push('complete');
      return {};
    }
    if (command instanceof AbortMultipartUploadCommand) {
      recorded.calls.push('abort');
      return {};
    }
    throw new Error(`unexpected command ${(command as object).constructor.name}`);
  };
  const s3 = { client: { send }, bucket: 'bucket', destroy() {} } as unknown as S3Connection;
  return { s3, recorded };
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('PartSink', () => {
  it('cuts chunks of any size into parts of exactly partSize, reusing one buffer', async () => {
    const { s3, recorded } = fakeS3();
    const data = randomBytes(3 * MIN_PART_SIZE + 12_345);
    const sink = new PartSink(s3, 'key', MIN_PART_SIZE, { uploadId: null, parts: [] });
    // Odd chunk sizes, so chunks straddle part boundaries and the small-to-buffer switch.
    for (let offset = 0, i = 0; offset < data.length; i++) {
      const size = [1, 100_000, 777_777, 3 * MiB][i % 4]!;
      await sink.write(data.subarray(offset, offset + size));
      offset += size;
    }
    expect(recorded.calls).toEqual(['create', 'part 1', 'part 2', 'part 3']);
    expect(recorded.parts.map((part) => part.size)).toEqual([MIN_PART_SIZE, MIN_PART_SIZE, MIN_PART_SIZE]);
    for (const [i, part] of recorded.parts.entries()) {
      expect(part.sha256).toBe(sha(data.subarray(i * MIN_PART_SIZE, (i + 1) * MIN_PART_SIZE)));
    }
    // One allocation for all parts: the memory contract.
    expect(new Set(recorded.parts.map((part) => part.memory)).size).toBe(1);
    expect(sink.pendingSize).toBe(12_345);
    expect(sink.pending().equals(data.subarray(3 * MIN_PART_SIZE))).toBe(true);
    expect(sink.parts.map((part) => part.etag)).toEqual(['"etag-1"', '"etag-2"', '"etag-3"']);
    await sink.uploadPart(sink.pending());
    await sink.complete();
    expect(recorded.parts.at(-1)?.sha256).toBe(sha(data.subarray(3 * MIN_PART_SIZE)));
    expect(recorded.calls.at(-1)).toBe('complete');
  });

  it('keeps a small body as its chunks: no part buffer, no multipart upload', async () => {
    const { s3, recorded } = fakeS3();
    const sink = new PartSink(s3, 'key', MIN_PART_SIZE, { uploadId: null, parts: [] });
    const pieces = [Buffer.from('{"schemaVersion":2,'), Buffer.alloc(0), Buffer.from('"layers":[]}')];
    for (const piece of pieces) await sink.write(piece);
    expect(sink.uploadId).toBeNull();
    expect(sink.pending().toString()).toBe('{"schemaVersion":2,"layers":[]}');
    expect(recorded.calls).toEqual([]);
  });

  it('continues an existing multipart upload after its recorded parts', async () => {
    const { s3, recorded } = fakeS3();
    const sink = new PartSink(s3, 'key', MIN_PART_SIZE, {
      uploadId: 'upload-0',
      parts: [{ n: 1, etag: 'a', size: MIN_PART_SIZE }],
    });
    await sink.write(randomBytes(MIN_PART_SIZE));
    expect(recorded.calls).toEqual(['part 2']);
    expect(sink.parts.map((part) => part.n)).toEqual([1, 2]);
    expect(sink.pendingSize).toBe(0);
  });

  it('holds about one part whatever the stream length', async () => {
    const { s3 } = fakeS3();
    const sink = new PartSink(s3, 'key', MIN_PART_SIZE, { uploadId: null, parts: [] });
    const chunk = randomBytes(MiB); // the same chunk again and again: only the sink can allocate
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    for (let i = 0; i < 128; i++) {
      await sink.write(chunk);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    expect(peak - before).toBeLessThan(2 * MIN_PART_SIZE);
  });

  it('turns a failed part into a StorageError and aborts the upload', async () => {
    const { s3, recorded } = fakeS3({ failPart: 2 });
    const sink = new PartSink(s3, 'key', MIN_PART_SIZE, { uploadId: null, parts: [] });
    const error = await sink.write(randomBytes(2 * MIN_PART_SIZE + 1)).catch((caught: unknown) => caught);
    expect(isStorageError(error, 'STORAGE_IO')).toBe(true);
    expect(String((error as Error).message)).toMatch(/upload part 2 of key: SlowDown/);
    await sink.abort();
    expect(recorded.calls).toEqual(['create', 'part 1', 'part 2', 'abort']);
  });
});
