/**
 * The sink's background flushes (`flushEvery`): an `fdatasync` starts every so many bytes while the
 * writes go on, the descriptor is never closed under one, the publishing sync waits for it, and a
 * flush that fails fails the sink (Linux reports a failed writeback once per open file).
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { FileSink, FLUSH_EVERY_BYTES } from '../../../../runtime/storage/drivers/file/sink.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';

/** What the fake `fdatasync` does: its delay, and an error to fail with. */
const sync = { delayMs: 0, fail: undefined as Error | undefined, calls: [] as string[] };
const events: string[] = [];

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    fdatasync: (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      events.push('sync start');
      setTimeout(() => {
        events.push('sync end');
        if (sync.fail) callback(sync.fail);
        else real.fdatasync(fd, callback);
      }, sync.delayMs);
    },
    close: (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      events.push('close');
      real.close(fd, callback);
    },
  };
});

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());
beforeEach(() => {
  sync.delayMs = 0;
  sync.fail = undefined;
  events.length = 0;
});

const chunks = (count: number, size: number) => Array.from({ length: count }, (_, i) => Buffer.alloc(size, i));

describe('FileSink background flushes', () => {
  it('starts a flush every `flushEvery` bytes, and one more to publish with `sync`', async () => {
    const file = join(await dirs.make(), 'blob');
    const body = chunks(10, 1000); // 10 000 bytes in batches of 1 000, a flush every 3 000
    await pipeline(
      Readable.from(body),
      new FileSink(file, { flags: 'wx', sync: true, batchBytes: 1000, flushEvery: 3000 }),
    );
    // Background ones at 3 000, 6 000 and 9 000 bytes, unless one still ran (one at a time); then the publishing one.
    const syncs = events.filter((e) => e === 'sync start').length;
    expect(syncs).toBeGreaterThanOrEqual(2);
    expect(syncs).toBeLessThanOrEqual(4);
    expect((await readFile(file)).equals(Buffer.concat(body))).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
  });

  it('never closes the file under a running flush, and the publishing sync comes after it', async () => {
    sync.delayMs = 50;
    const file = join(await dirs.make(), 'blob');
    const sink = new FileSink(file, { flags: 'wx', sync: true, batchBytes: 1000, flushEvery: 1000 });
    sink.end(Buffer.alloc(1000, 7)); // one batch: a background flush starts, then `_final` syncs
    await once(sink, 'close');
    expect(events).toEqual(['sync start', 'sync end', 'sync start', 'sync end', 'close']);
  });

  it('waits for a running flush before closing when destroyed meanwhile', async () => {
    sync.delayMs = 50;
    const file = join(await dirs.make(), 'data');
    const sink = new FileSink(file, { flags: 'wx', batchBytes: 1000, flushEvery: 1000 });
    sink.on('error', () => {});
    await new Promise<void>((done, fail) => sink.write(Buffer.alloc(1000, 1), (e) => (e ? fail(e) : done())));
    expect(events).toEqual(['sync start']); // the batch went out and its flush runs
    const closed = new Promise((done) => sink.on('close', done));
    sink.destroy(new Error('client went away'));
    await closed;
    expect(events).toEqual(['sync start', 'sync end', 'close']);
    expect((await readFile(file)).equals(Buffer.alloc(1000, 1))).toBe(true);
  });

  it('a failed flush fails the sink: the next write or the end reports it', async () => {
    sync.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const file = join(await dirs.make(), 'blob');
    const error = await pipeline(
      Readable.from(chunks(8, 1000)),
      new FileSink(file, { flags: 'wx', batchBytes: 1000, flushEvery: 2000 }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as NodeJS.ErrnoException).code).toBe('EIO');
    // Without a write after it, the end reports it (no `sync` asked).
    const last = join(await dirs.make(), 'blob');
    const ended = await pipeline(
      Readable.from([Buffer.alloc(2000, 3)]),
      new FileSink(last, { flags: 'wx', batchBytes: 2000, flushEvery: 2000 }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((ended as NodeJS.ErrnoException).code).toBe('EIO');
  });

  it('keeps a failed flush as its disk error when someone else’s error destroys it', async () => {
    sync.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const file = join(await dirs.make(), 'data');
    const sink = new FileSink(file, { flags: 'wx', batchBytes: 1000, flushEvery: 1000 });
    const failure = new Promise<unknown>((done) => sink.on('error', done));
    await new Promise<void>((done, fail) => sink.write(Buffer.alloc(1000, 1), (e) => (e ? fail(e) : done())));
    await new Promise((resolve) => setTimeout(resolve, 20)); // the flush has failed by now
    sink.destroy(new Error('client went away'));
    expect(((await failure) as Error).message).toBe('client went away');
    await sink.whenClosed();
    expect((sink.diskError as NodeJS.ErrnoException).code).toBe('EIO');
  });

  it('an upload whose body broke off after a failed flush is a STORAGE_IO, its recorded offset unmoved', async () => {
    const dir = await dirs.make();
    const store = await createFileBlobStore({ name: 'default', driver: 'file', path: dir }, { sweepIntervalMs: 0 });
    try {
      const upload = await store.createUpload('tester');
      sync.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      // A flush's worth of bytes (the flush starts and fails), then the client goes away.
      async function* body() {
        for (let sent = 0; sent < FLUSH_EVERY_BYTES; sent += 1 << 20) yield Buffer.alloc(1 << 20, 5);
        await new Promise((resolve) => setTimeout(resolve, 30));
        throw new Error('client went away');
      }
      const error = await store.appendUpload(upload.id, 0, Readable.from(body())).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStorageError(error, 'STORAGE_IO')).toBe(true);
      expect((error as Error).message).toMatch(/EIO/);
      expect((await store.getUpload(upload.id))?.offset).toBe(0);
    } finally {
      await store.close();
    }
  });
});
