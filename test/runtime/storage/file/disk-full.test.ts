/**
 * A full disk (ENOSPC) under the file store, injected into `node:fs` (the sink's `writev`) and
 * `node:fs/promises` (small documents' writes, renames): every write fails with `STORAGE_FULL`
 * naming the store, leaves nothing behind (no temp file, an append's bytes cut off at once, no
 * visible blob or document), reads go on, and the same store writes again once the disk has room.
 */
import { createHash } from 'node:crypto';
import type * as Fs from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFileBlobStore, type FileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { isStorageError, type StorageError } from '../../../../runtime/storage/errors.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';

/** What the fake disk does: how many more data writes succeed before ENOSPC (undefined: all). */
const disk = {
  writesLeft: undefined as number | undefined,
  /** Fail small documents' writes (`FileHandle.writeFile`). */
  documents: false,
  /** Fail renames (publishing a blob, or a document). */
  renames: false,
};

const noSpace = (call: string) =>
  Object.assign(new Error(`ENOSPC: no space left on device, ${call}`), { code: 'ENOSPC', errno: -28, syscall: call });

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  return {
    ...real,
    writev: (
      fd: number,
      buffers: readonly NodeJS.ArrayBufferView[],
      position: number,
      callback: (error: NodeJS.ErrnoException | null, written: number) => void,
    ) => {
      if (disk.writesLeft !== undefined) {
        if (disk.writesLeft === 0) {
          setImmediate(() => callback(noSpace('write'), 0));
          return;
        }
        disk.writesLeft--;
      }
      real.writev(fd, buffers, position, callback);
    },
  };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    if (disk.documents) {
      // The file was created (an inode was free), its content finds no room.
      handle.writeFile = () => Promise.reject(noSpace('write'));
    }
    return handle;
  };
  const rename: typeof real.rename = (from, to) =>
    disk.renames ? Promise.reject(noSpace('rename')) : real.rename(from, to);
  return { ...real, default: { ...real, open, rename }, open, rename };
});

const dirs = new TmpDirs();
let store: FileBlobStore;

beforeEach(async () => {
  disk.writesLeft = undefined;
  disk.documents = false;
  disk.renames = false;
  store = await createFileBlobStore(
    { name: 'default', driver: 'file', path: await dirs.make() },
    { sweepIntervalMs: 0 },
  );
});

afterEach(async () => {
  await store.close();
  await dirs.cleanup();
});

const MiB = 1024 * 1024;
const bytes = (size: number, fill: number) => Buffer.alloc(size, fill);
const digestOf = (...parts: Buffer[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return `sha256:${hash.digest('hex')}`;
};
/** A body of `count` chunks of 64 KiB, so the sink writes it in several batches. */
const body = (data: Buffer) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536)),
  );

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStorageError(error, 'STORAGE_FULL'), `expected STORAGE_FULL, got ${String(error)}`).toBe(true);
  return error as StorageError;
}

const tmpFiles = () => readdir(store.paths.tmp);

describe('file store out of space', () => {
  it('putBlob: STORAGE_FULL naming the store, no temp file, nothing visible; works once there is room', async () => {
    const data = bytes(3 * MiB, 1);
    const digest = digestOf(data);
    disk.writesLeft = 1; // the first 1 MiB batch reaches the file, the second finds no room
    const error = await failure(store.putBlob(digest, body(data), data.length));
    expect(error.store).toBe('default');
    expect(error.message).toMatch(/ENOSPC/);
    expect(await tmpFiles()).toEqual([]);
    expect(await store.stat(digest)).toBeUndefined();

    disk.writesLeft = undefined; // space came back
    expect(await store.putBlob(digest, body(data), data.length)).toEqual({ digest, size: data.length });
    expect((await readFile(store.paths.blob(digest))).equals(data)).toBe(true);
  });

  it('putHashedBlob: the same, and `hashed()` is never called', async () => {
    const data = bytes(2 * MiB, 2);
    const digest = digestOf(data);
    disk.writesLeft = 0;
    const hashed = vi.fn(() => ({ digest, size: data.length }));
    const error = await failure(store.putHashedBlob(digest, body(data), { hashed }));
    expect(error.store).toBe('default');
    expect(hashed).not.toHaveBeenCalled();
    expect(await tmpFiles()).toEqual([]);
    expect(await store.stat(digest)).toBeUndefined();

    disk.writesLeft = undefined;
    expect(await store.putHashedBlob(digest, body(data), { hashed })).toEqual({ digest, size: data.length });
  });

  it('appendUpload: the bytes of the failed append are cut off at once, the offset stays, and the upload resumes', async () => {
    const first = bytes(1000, 3);
    const second = bytes(3 * MiB, 4);
    const upload = await store.createUpload('tester');
    expect((await store.appendUpload(upload.id, 0, Readable.from([first]))).offset).toBe(1000);

    disk.writesLeft = 1; // 1 MiB of the second append is written, then ENOSPC
    const error = await failure(store.appendUpload(upload.id, 1000, body(second)));
    expect(error.store).toBe('default');
    expect((await store.getUpload(upload.id))?.offset).toBe(1000);
    // The space is given back now, not at the next append.
    expect((await stat(store.paths.upload(upload.id).data)).size).toBe(1000);
    expect(await tmpFiles()).toEqual([]);

    disk.writesLeft = undefined;
    expect((await store.appendUpload(upload.id, 1000, body(second))).offset).toBe(1000 + second.length);
    const digest = digestOf(first, second);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: 1000 + second.length });
    expect((await readFile(store.paths.blob(digest))).equals(Buffer.concat([first, second]))).toBe(true);
  });

  it('appendUpload: no room for the new state either: its temp is removed, the data cut back', async () => {
    const upload = await store.createUpload('tester');
    disk.documents = true; // the data fits, the state.json recording the new offset does not
    await failure(store.appendUpload(upload.id, 0, Readable.from([bytes(5000, 5)])));
    expect((await store.getUpload(upload.id))?.offset).toBe(0);
    expect((await stat(store.paths.upload(upload.id).data)).size).toBe(0);
    expect(await tmpFiles()).toEqual([]);
    disk.documents = false;
    expect((await store.appendUpload(upload.id, 0, Readable.from([bytes(5000, 5)]))).offset).toBe(5000);
  });

  it('commitUpload: no room to publish: STORAGE_FULL, the session gone, nothing visible', async () => {
    const data = bytes(4000, 6);
    const digest = digestOf(data);
    const upload = await store.createUpload('tester');
    await store.appendUpload(upload.id, 0, Readable.from([data]));
    disk.renames = true;
    const error = await failure(store.commitUpload(upload.id, digest));
    expect(error.store).toBe('default');
    expect(await store.getUpload(upload.id)).toBeUndefined();
    expect(await readdir(store.paths.uploads)).toEqual([]);
    expect(await tmpFiles()).toEqual([]);
    expect(await store.stat(digest)).toBeUndefined();
  });

  it('createUpload and putMeta: STORAGE_FULL, no temp file, no half session or document; reads go on', async () => {
    await store.putMeta('a/tag', 'old');
    disk.documents = true;
    expect((await failure(store.createUpload('tester'))).store).toBe('default');
    expect(await readdir(store.paths.uploads)).toEqual([]);
    expect((await failure(store.putMeta('a/tag', 'new'))).store).toBe('default');
    expect((await failure(store.putMeta('b/tag', 'new'))).store).toBe('default');
    expect(await tmpFiles()).toEqual([]);
    expect((await store.getMeta('a/tag'))?.toString()).toBe('old');
    expect(await store.getMeta('b/tag')).toBeUndefined();
    expect(await store.listMeta('')).toEqual(['a']);

    disk.documents = false;
    await store.putMeta('a/tag', 'new');
    expect((await store.getMeta('a/tag'))?.toString()).toBe('new');
    expect((await store.createUpload('tester')).offset).toBe(0);
  });

  it('a disk error that is not about space stays STORAGE_IO', async () => {
    // Sanity check of the mapping: only ENOSPC and EDQUOT are "full".
    const { toStorageIo } = await import('../../../../runtime/storage/drivers/file/io.ts');
    const eio = Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    const quota = Object.assign(new Error('EDQUOT: disk quota exceeded'), { code: 'EDQUOT' });
    expect(toStorageIo(eio, 'writing').code).toBe('STORAGE_IO');
    expect(toStorageIo(quota, 'writing').code).toBe('STORAGE_FULL');
  });
});
