/**
 * The file driver's stream plumbing: whose fault a failed write is (the client's body or the
 * disk), which decides between "rethrow as is, keep the bytes" and `STORAGE_IO` (`STORAGE_FULL`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FileHash } from '../../../../runtime/storage/drivers/file/hash.ts';
import { FileHashPool } from '../../../../runtime/storage/drivers/file/hash-pool.ts';
import { pipeBody } from '../../../../runtime/storage/drivers/file/io.ts';
import { FileSink } from '../../../../runtime/storage/drivers/file/sink.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';

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
    await expect(pipeBody(body, sink(), 'writing')).rejects.toBe(broken);
  });

  it('turns a failure of the disk into a StorageError (STORAGE_FULL for ENOSPC), never the client’s', async () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
    });
    // A body that is still sending, like a request stream: `pipeline` destroys it with the disk's
    // error, so it too emits that error — which must not make it look like the client's failure.
    const sending = new Readable({
      read() {
        setTimeout(() => this.push(Buffer.alloc(1024)), 1);
      },
    });
    const error = await pipeBody(sending, sink(full), 'writing blob').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStorageError(error, 'STORAGE_FULL')).toBe(true);
    expect((error as Error).message).toBe('writing blob: ENOSPC: no space left on device, write');
    expect((error as Error).cause).toBe(full);
  });

  it('rethrows as is a body that had already failed before the write began', async () => {
    const aborted = new Readable({ read() {} });
    aborted.on('error', () => {});
    aborted.destroy(new Error('aborted'));
    await new Promise((done) => setImmediate(done));
    await expect(pipeBody(aborted, sink(), 'writing')).rejects.toThrow(/^aborted$/);
  });
});

describe('FileSink with a FileHash', () => {
  it('hashes what went through pipeBody', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-file-io-'));
    const pool = new FileHashPool();
    try {
      const file = join(dir, 'blob');
      const hash = new FileHash(pool, file, 'sha256');
      const target = new FileSink(file, { flags: 'wx', onWritten: hash.written });
      await pipeBody(Readable.from([Buffer.from('abc')]), target, 'writing');
      expect({ digest: await hash.digest(target.position), size: target.position }).toEqual({
        digest: 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        size: 3,
      });
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
