/**
 * The file driver's stream plumbing: whose fault a failed write is (the client's body or the
 * disk), which decides between "rethrow as is, keep the bytes" and `STORAGE_IO`.
 */
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isStorageError } from '../../../runtime/errors.ts';
import { HashingStream } from '../../../runtime/storage/digest.ts';
import { pipeBody } from '../../../runtime/storage/drivers/file-io.ts';

const sink = (fail?: Error) =>
  new Writable({
    write(_chunk, _encoding, done) {
      done(fail);
    },
  });

describe('pipeBody', () => {
  it('rethrows the body’s own failure as is', async () => {
    const broken = new Error('client went away');
    const body = Readable.from(
      (async function* () {
        yield Buffer.from('some bytes');
        throw broken;
      })(),
    );
    await expect(pipeBody(body, new HashingStream(), sink(), 'writing')).rejects.toBe(broken);
  });

  it('turns a failure of the disk into STORAGE_IO, never passing it off as the client’s', async () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
    });
    const error = await pipeBody(
      Readable.from([Buffer.from('x')]),
      new HashingStream(),
      sink(full),
      'writing blob',
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStorageError(error, 'STORAGE_IO')).toBe(true);
    expect((error as Error).message).toBe('writing blob: ENOSPC: no space left on device, write');
    expect((error as Error).cause).toBe(full);
  });

  it('hashes what went through', async () => {
    const hasher = new HashingStream();
    await pipeBody(Readable.from([Buffer.from('abc')]), hasher, sink(), 'writing');
    expect(hasher.result()).toEqual({
      digest: 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      size: 3,
    });
  });
});
