/**
 * The file driver's batching sink: bytes land in order at the right position, batches wait until
 * they are full, a foreign failure keeps what was accepted, a failure of the disk is the sink's own
 * and stops it, and the descriptor is never closed under a running write.
 */
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeBody } from '../../../../runtime/storage/drivers/file/io.ts';
import { FileSink } from '../../../../runtime/storage/drivers/file/sink.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

const bytes = (text: string) => Buffer.from(text);
const write = (sink: FileSink, chunk: Buffer) =>
  new Promise<void>((done, fail) => sink.write(chunk, (error) => (error ? fail(error) : done())));

describe('FileSink', () => {
  it('writes every chunk in order, from `start`, and holds a batch back until it is full', async () => {
    const file = join(await dirs.make(), 'data');
    await writeFile(file, 'keep:XXXXXXXXXXXX');
    const sink = new FileSink(file, { flags: 'r+', start: 5, batchBytes: 8 });
    await write(sink, bytes('abc'));
    await write(sink, bytes('def'));
    expect(sink.position).toBe(5); // 6 bytes gathered, below the batch: nothing written yet
    expect(await readFile(file, 'utf8')).toBe('keep:XXXXXXXXXXXX');
    await write(sink, bytes('ghij'));
    expect(sink.position).toBe(15); // the batch filled up: one write of all three chunks
    sink.end(bytes('kl'));
    await once(sink, 'close');
    expect(sink.position).toBe(17);
    expect(await readFile(file, 'utf8')).toBe('keep:abcdefghijkl');
  });

  it('streams a large body through in batches, synced, byte for byte', async () => {
    const file = join(await dirs.make(), 'blob');
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000 + i, i));
    await pipeline(Readable.from(chunks), new FileSink(file, { flags: 'wx', sync: true, batchBytes: 256 * 1024 }));
    expect((await readFile(file)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('with `truncate`, cuts the file at `start` before writing (debris of a crashed append)', async () => {
    const file = join(await dirs.make(), 'data');
    await writeFile(file, 'keep-debris-debris');
    const sink = new FileSink(file, { flags: 'r+', start: 4, truncate: true });
    sink.end(bytes('!'));
    await sink.whenClosed();
    expect(sink.position).toBe(5);
    expect(await readFile(file, 'utf8')).toBe('keep!');
    const empty = new FileSink(file, { flags: 'r+', start: 2, truncate: true });
    empty.end();
    await empty.whenClosed();
    expect(await readFile(file, 'utf8')).toBe('ke');
  });

  it('refuses to overwrite an existing file with `wx`', async () => {
    const file = join(await dirs.make(), 'taken');
    await writeFile(file, 'mine');
    const sink = new FileSink(file, { flags: 'wx' });
    const [error] = await once(sink, 'error');
    expect((error as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(await readFile(file, 'utf8')).toBe('mine');
  });

  it('keeps the bytes it accepted when destroyed with someone else’s error (a body broke off)', async () => {
    const file = join(await dirs.make(), 'data');
    await writeFile(file, '');
    const sink = new FileSink(file, { flags: 'r+', batchBytes: 1024 });
    await write(sink, bytes('first '));
    await write(sink, bytes('second'));
    sink.destroy(new Error('client went away'));
    const [error] = await once(sink, 'error');
    expect((error as Error).message).toBe('client went away');
    if (!sink.closed) await once(sink, 'close');
    expect(await readFile(file, 'utf8')).toBe('first second');
  });

  it('waits for a running write before closing the file when destroyed meanwhile', async () => {
    const file = join(await dirs.make(), 'data');
    await writeFile(file, '');
    const sink = new FileSink(file, { flags: 'r+', batchBytes: 4 });
    // What had been written when 'close' came: the descriptor must outlive the running write.
    const closed = new Promise<number>((done) => sink.on('close', () => done(sink.position)));
    sink.on('error', () => {});
    await write(sink, bytes('ab')); // the file is open now
    sink.write(Buffer.alloc(1 << 20, 1)); // fills a batch: a write is running now
    sink.destroy(new Error('gone'));
    expect(await closed).toBe(2 + (1 << 20));
    const expected = Buffer.concat([bytes('ab'), Buffer.alloc(1 << 20, 1)]);
    expect((await readFile(file)).equals(expected)).toBe(true);
  });

  it('a failed write is the disk’s failure: STORAGE_FULL (ENOSPC) through pipeBody, nothing more written', async () => {
    // /dev/full accepts the open and fails every write with ENOSPC, as a full disk does.
    const sink = new FileSink('/dev/full', { flags: 'r+', batchBytes: 16 });
    const body = Readable.from([bytes('0123456789'), bytes('0123456789'), bytes('tail')]);
    const error = await pipeBody(body, sink, 'writing blob').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStorageError(error, 'STORAGE_FULL')).toBe(true);
    expect((error as Error).message).toMatch(/^writing blob: ENOSPC/);
    expect(sink.position).toBe(0);
  });

  it('a failure while gathering the last batch is reported by `end`, not swallowed', async () => {
    const sink = new FileSink('/dev/full', { flags: 'r+', batchBytes: 1 << 20 });
    const error = await pipeline(Readable.from([bytes('small')]), sink).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  });
});
