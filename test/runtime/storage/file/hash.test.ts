import { createHash, randomBytes } from 'node:crypto';
import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileBlobStorePlan } from '../../../../compiler/plan.ts';
import type { DigestAlgorithm } from '../../../../runtime/oci/digest.ts';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { FileHash, INLINE_HASH_BYTES } from '../../../../runtime/storage/drivers/file/hash.ts';
import { FileHashPool, WORKER_SOURCE } from '../../../../runtime/storage/drivers/file/hash-pool.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';
import { codeOf, digestOf, readAll } from '../../../suites/blob-store.ts';

const MiB = 1024 * 1024;
const hex = (algorithm: DigestAlgorithm, data: Buffer) =>
  `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;

/** A pool that records what reaches it instead of starting a worker. */
class RecordingPool extends FileHashPool {
  readonly calls: string[] = [];
  override feed(job: number, file: string, algorithm: DigestAlgorithm, from: number, to: number): void {
    this.calls.push(`feed ${from}-${to}`);
    super.feed(job, file, algorithm, from, to);
  }
  override digest(job: number, file: string, algorithm: DigestAlgorithm, from: number, to: number) {
    this.calls.push(`digest ${from}-${to}`);
    return super.digest(job, file, algorithm, from, to);
  }
}

describe('FileHash and its worker', () => {
  const dirs = new TmpDirs();
  const pools: FileHashPool[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.close();
    await dirs.cleanup();
  });
  const setup = async () => {
    const dir = await dirs.make('regctl-file-hash-');
    const pool = new RecordingPool();
    pools.push(pool);
    return { file: join(dir, 'data'), pool };
  };
  /** Writes `data` at `from` and tells `hash`, as the sink does after a write. */
  const write = async (hash: FileHash, file: string, data: Buffer, from: number, whole = true) => {
    const handle = await open(file, from === 0 ? 'w' : 'r+');
    await handle.write(data, 0, data.length, from);
    await handle.close();
    hash.written(from, from + data.length, whole ? [data] : undefined);
  };

  it('hashes a small file on the event loop, from the written buffers, without the worker', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(INLINE_HASH_BYTES - 10);
    const hash = new FileHash(pool, file, 'sha256');
    await write(hash, file, data.subarray(0, 1000), 0);
    await write(hash, file, data.subarray(1000), 1000);
    expect(await hash.digest(data.length)).toBe(hex('sha256', data));
    expect(pool.calls).toEqual([]);
  });

  it('hands a file that outgrows the inline limit to the worker, which reads it back from byte 0', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(3 * MiB + 123);
    const hash = new FileHash(pool, file, 'sha256');
    await write(hash, file, data.subarray(0, MiB - 1), 0);
    await write(hash, file, data.subarray(MiB - 1, 2 * MiB + 7), MiB - 1);
    await write(hash, file, data.subarray(2 * MiB + 7), 2 * MiB + 7);
    expect(await hash.digest(data.length)).toBe(hex('sha256', data));
    expect(pool.calls).toEqual([
      `feed ${MiB - 1}-${2 * MiB + 7}`,
      `feed ${2 * MiB + 7}-${data.length}`,
      `digest ${data.length}-${data.length}`,
    ]);
  });

  it('gives a first write of a whole batch (1 MiB) to the worker at once: it is not hashed twice', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(2 * MiB);
    const hash = new FileHash(pool, file, 'sha256');
    await write(hash, file, data.subarray(0, MiB), 0);
    await write(hash, file, data.subarray(MiB), MiB);
    expect(await hash.digest(data.length)).toBe(hex('sha256', data));
    expect(pool.calls).toEqual([`feed 0-${MiB}`, `feed ${MiB}-${2 * MiB}`, `digest ${2 * MiB}-${2 * MiB}`]);
  });

  it('hashes sha512 in the worker too', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(2 * MiB + 1);
    const hash = new FileHash(pool, file, 'sha512');
    await write(hash, file, data, 0);
    expect(await hash.digest(data.length)).toBe(hex('sha512', data));
  });

  it('starts over when bytes it already hashed are rewritten (an append after debris was cut off)', async () => {
    const { file, pool } = await setup();
    const first = randomBytes(2 * MiB);
    const hash = new FileHash(pool, file, 'sha256');
    await write(hash, file, first, 0);
    expect(await hash.digest(first.length)).toBe(hex('sha256', first));
    // The second half was debris: the file is cut back to 1 MiB and written on with other bytes.
    await truncate(file, MiB);
    const rest = randomBytes(MiB + 500);
    await write(hash, file, rest, MiB);
    const expected = Buffer.concat([first.subarray(0, MiB), rest]);
    expect(await hash.digest(expected.length)).toBe(hex('sha256', expected));
  });

  it('gives the digest of a prefix shorter than what it hashed, and a short write without buffers', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(MiB / 2);
    const hash = new FileHash(pool, file, 'sha256');
    await write(hash, file, data, 0, false); // no buffers: the worker takes over even when small
    expect(pool.calls).toEqual([`feed 0-${data.length}`]);
    expect(await hash.digest(1000)).toBe(hex('sha256', data.subarray(0, 1000)));
  });

  it('rejects when the file is shorter than the digest asked for, and recovers once it is not', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(2 * MiB);
    await writeFile(file, data.subarray(0, MiB));
    const hash = new FileHash(pool, file, 'sha256');
    await expect(hash.digest(data.length)).rejects.toThrow(/ends at byte 1048576/);
    await writeFile(file, data);
    expect(await hash.digest(data.length)).toBe(hex('sha256', data));
  });

  it('rejects digests still awaited when closed, and starts a new worker on the next use', async () => {
    const { file, pool } = await setup();
    const data = randomBytes(4 * MiB);
    await writeFile(file, data);
    const pending = new FileHash(pool, file, 'sha256').digest(data.length);
    const outcome = expect(pending).rejects.toThrow(/closed/);
    await pool.close();
    await outcome;
    expect(await new FileHash(pool, file, 'sha256').digest(data.length)).toBe(hex('sha256', data));
  });
});

describe('file blob store: blobs hashed by the worker', () => {
  const dirs = new TmpDirs();
  afterEach(() => dirs.cleanup());
  const open2 = async () => {
    const dir = await dirs.make('regctl-file-hash-store-');
    const plan: FileBlobStorePlan = { name: 'default', driver: 'file', path: dir };
    return { dir, plan, store: await createFileBlobStore(plan, { sweepIntervalMs: 0 }) };
  };

  it('refuses a large blob whose content does not match, leaving nothing', async () => {
    const { store } = await open2();
    const data = randomBytes(3 * MiB);
    const wrong = digestOf(randomBytes(10));
    expect(await codeOf(store.putBlob(wrong, Readable.from([data])))).toBe('STORAGE_DIGEST_MISMATCH');
    expect(await store.stat(wrong)).toBeUndefined();
    expect(await store.putBlob(digestOf(data), Readable.from([data]))).toEqual({
      digest: digestOf(data),
      size: data.length,
    });
    expect((await readAll(await store.read(digestOf(data)))).equals(data)).toBe(true);
    await store.close();
  });

  it('commits a large chunked upload whose middle append broke off, after the client resumed', async () => {
    const { store } = await open2();
    const data = randomBytes(5 * MiB + 17);
    const upload = await store.createUpload(null);
    await store.appendUpload(upload.id, 0, Readable.from([data.subarray(0, 2 * MiB)]));
    // The second PATCH breaks off after 1 MiB: those bytes are kept, the client resumes from there.
    const broken = new Readable({ read() {} });
    broken.push(data.subarray(2 * MiB, 3 * MiB));
    setTimeout(() => broken.destroy(new Error('client went away')), 20);
    await expect(store.appendUpload(upload.id, 2 * MiB, broken)).rejects.toThrow('client went away');
    const offset = (await store.getUpload(upload.id))?.offset ?? -1;
    expect(offset).toBe(3 * MiB);
    await store.appendUpload(upload.id, offset, Readable.from([data.subarray(offset)]));
    expect(await store.commitUpload(upload.id, digestOf(data), data.length)).toEqual({
      digest: digestOf(data),
      size: data.length,
    });
    await store.close();
  });

  it('commits a large upload as sha512, and one continued by another instance on the same root', async () => {
    const { plan, store } = await open2();
    const data = randomBytes(3 * MiB);
    const sha512 = hex('sha512', data) as `sha512:${string}`;
    const a = await store.createUpload(null);
    await store.appendUpload(a.id, 0, Readable.from([data]));
    expect(await store.commitUpload(a.id, sha512)).toEqual({ digest: sha512, size: data.length });

    const b = await store.createUpload(null);
    await store.appendUpload(b.id, 0, Readable.from([data.subarray(0, 2 * MiB)]));
    const other = await createFileBlobStore(plan, { sweepIntervalMs: 0 });
    await other.appendUpload(b.id, 2 * MiB, Readable.from([data.subarray(2 * MiB)]));
    expect(await other.commitUpload(b.id, digestOf(data))).toEqual({ digest: digestOf(data), size: data.length });
    await Promise.all([store.close(), other.close()]);
  });
});

describe('FileHashPool: a worker that dies', () => {
  const dirs = new TmpDirs();
  afterEach(() => dirs.cleanup());

  it('asks a new worker once more, which hashes the file from byte 0', async () => {
    const dir = await dirs.make('regctl-file-hash-crash-');
    const file = join(dir, 'data');
    const marker = join(dir, 'crashed');
    const data = randomBytes(2 * MiB);
    await writeFile(file, data);
    // The first worker dies on its first message; the next one (the marker exists) is the real one.
    const crashOnce = `if (!require('node:fs').existsSync(${JSON.stringify(marker)})) {
      require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');
      require('node:worker_threads').parentPort.once('message', () => process.exit(7));
    } else {${WORKER_SOURCE}}`;
    const pool = new FileHashPool(crashOnce);
    const hash = new FileHash(pool, file, 'sha256');
    hash.written(0, MiB); // fed to the first worker, lost with it
    expect(await hash.digest(data.length)).toBe(hex('sha256', data));
    await pool.close();
  });

  it('fails the digest when the new worker dies as well', async () => {
    const pool = new FileHashPool(`require('node:worker_threads').parentPort.once('message', () => process.exit(9));`);
    await expect(new FileHash(pool, '/nonexistent', 'sha256').digest(10)).rejects.toThrow(/exited \(code 9\)/);
    await pool.close();
  });
});
