import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChunkTarget, canSendDirect } from '../../../../runtime/storage/blob-store.ts';
import { FileBlobStream, READ_CHUNK_BYTES } from '../../../../runtime/storage/drivers/file/read-stream.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';
import { readAll } from '../../../suites/blob-store.ts';

/**
 * A response stand-in whose writes complete later, as a socket's do when the kernel's buffer is
 * full: it checks that a chunk's bytes are unchanged when its write completes (a buffer reused
 * too early would show up as different bytes), then keeps a copy.
 */
class SlowTarget extends EventEmitter implements ChunkTarget {
  destroyed = false;
  readonly received: Buffer[] = [];
  changedBeforeCompletion = 0;
  #writes = 0;
  constructor(readonly failAfter = Number.POSITIVE_INFINITY) {
    super();
  }
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean {
    const snapshot = Buffer.from(chunk);
    const n = ++this.#writes;
    setTimeout(() => {
      if (!chunk.equals(snapshot)) this.changedBeforeCompletion++;
      this.received.push(snapshot);
      if (n >= this.failAfter) {
        this.destroyed = true;
        this.emit('close');
        callback(new Error('socket closed'));
      } else callback();
      if (n % 3 === 0) this.emit('drain');
    }, 1);
    return n % 3 !== 0; // every third write reports a full buffer, then drains
  }
}

describe('FileBlobStream', () => {
  const dirs = new TmpDirs();
  afterEach(() => dirs.cleanup());
  const fileWith = async (data: Buffer) => {
    const dir = await dirs.make('regctl-read-stream-');
    const file = join(dir, 'blob');
    await writeFile(file, data);
    return file;
  };

  it('reads a whole file and a range as a stream', async () => {
    const data = randomBytes(3 * READ_CHUNK_BYTES + 5);
    const file = await fileWith(data);
    expect((await readAll(new FileBlobStream(await open(file, 'r')))).equals(data)).toBe(true);
    const ranged = new FileBlobStream(await open(file, 'r'), { start: 100, end: 2 * READ_CHUNK_BYTES + 50 });
    expect((await readAll(ranged)).equals(data.subarray(100, 2 * READ_CHUNK_BYTES + 51))).toBe(true);
  });

  it('fails a range that the file does not reach instead of ending short', async () => {
    const file = await fileWith(randomBytes(1000));
    const stream = new FileBlobStream(await open(file, 'r'), { start: 0, end: 1999 });
    await expect(readAll(stream)).rejects.toThrow(/ended at byte 1000, before 2000/);
  });

  it('sends itself with two buffers, reusing one only after its write completed', async () => {
    const data = randomBytes(10 * READ_CHUNK_BYTES + 123);
    const file = await fileWith(data);
    const stream = new FileBlobStream(await open(file, 'r'), { start: 7, end: data.length - 1 });
    expect(canSendDirect(stream)).toBe(true);
    const target = new SlowTarget();
    await stream.sendTo(target);
    expect(target.changedBeforeCompletion).toBe(0);
    expect(Buffer.concat(target.received).equals(data.subarray(7))).toBe(true);
    expect(stream.destroyed).toBe(true); // the file is closed
  });

  it('sends an empty file, a small one, and one of exactly two chunks, whole and as a range', async () => {
    for (const size of [0, 1000, 2 * READ_CHUNK_BYTES]) {
      const data = randomBytes(size);
      const file = await fileWith(data);
      const whole = new SlowTarget();
      await new FileBlobStream(await open(file, 'r')).sendTo(whole);
      expect(Buffer.concat(whole.received).equals(data)).toBe(true);
      if (size === 0) continue;
      const ranged = new SlowTarget();
      await new FileBlobStream(await open(file, 'r'), { start: 0, end: size - 1 }).sendTo(ranged);
      expect(Buffer.concat(ranged.received).equals(data)).toBe(true);
    }
  });

  it('rejects a send whose range the file does not reach, after sending what it has', async () => {
    const file = await fileWith(randomBytes(1000));
    const target = new SlowTarget();
    const stream = new FileBlobStream(await open(file, 'r'), { start: 0, end: 1999 });
    await expect(stream.sendTo(target)).rejects.toThrow(/ended at byte 1000, before 2000/);
    expect(stream.destroyed).toBe(true);
  });

  it('rejects when the target goes away midway, and stops reading', async () => {
    const data = randomBytes(10 * READ_CHUNK_BYTES);
    const file = await fileWith(data);
    const stream = new FileBlobStream(await open(file, 'r'));
    const target = new SlowTarget(2);
    await expect(stream.sendTo(target)).rejects.toThrow('the client went away before the last byte');
    expect(target.received.length).toBeLessThanOrEqual(3);
    expect(stream.destroyed).toBe(true);
  });

  it('is not sent directly once something has read it', async () => {
    const file = await fileWith(randomBytes(10));
    const stream = new FileBlobStream(await open(file, 'r'));
    stream.on('data', () => {});
    expect(canSendDirect(stream)).toBe(false);
    await expect(stream.sendTo(new SlowTarget())).rejects.toThrow(/already being consumed/);
    stream.destroy();
  });

  it('writes to a real HTTP response byte for byte, and survives a client that leaves', async () => {
    const data = randomBytes(40 * READ_CHUNK_BYTES + 9);
    const file = await fileWith(data);
    const outcomes: string[] = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) });
      open(file, 'r')
        .then((handle) => new FileBlobStream(handle).sendTo(res))
        .then(
          () => {
            outcomes.push('sent');
            res.end();
          },
          (error: Error) => {
            outcomes.push(`failed: ${error.message}`);
            res.destroy();
          },
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const whole = await new Promise<Buffer>((resolve, reject) => {
        request({ host: '127.0.0.1', port }, (res) => readAll(res).then(resolve, reject))
          .on('error', reject)
          .end();
      });
      expect(whole.equals(data)).toBe(true);
      // A client that reads a little and hangs up: the sender fails instead of waiting forever.
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.on('close', () => resolve());
        req.setTimeout(5000, () => reject(new Error('timeout')));
        req.end();
      });
      for (let i = 0; i < 100 && outcomes.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(outcomes[0]).toBe('sent');
      expect(outcomes[1]).toMatch(/^failed: /);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
