/**
 * streamThrough across dropped upstream connections: the one hash runs over the resumed pieces,
 * the client gets one unbroken body, a piece from byte 0 is re-read and checked up to the byte
 * reached, and nothing partial or spliced from two different bodies is ever visible.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { digestOf } from '../../../../runtime/oci/digest.ts';
import { streamThrough } from '../../../../runtime/repositories/proxy/stream-through.ts';
import { createFileBlobStore, type FileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import type { BlobPiece } from '../../../../runtime/upstream/blob-resume.ts';

const CHUNK = 64 * 1024;

/** `data` in 64 KiB chunks; after `cutAt` bytes the stream fails as a reset connection does. */
function droppingBody(data: Buffer, cutAt = Number.POSITIVE_INFINITY): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      if (offset >= cutAt) {
        this.destroy(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
        return;
      }
      const end = Math.min(data.length, offset + CHUNK, cutAt);
      this.push(data.subarray(offset, end));
      offset = end;
    },
  });
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function fileStore(): Promise<FileBlobStore> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-stream-resume-'));
  dirs.push(dir);
  return createFileBlobStore({ name: 'default', driver: 'file', path: dir }, { sweepIntervalMs: 0 });
}

describe('streamThrough with resumes', () => {
  it('splices ranged pieces: the client gets every byte once, the store the verified blob', async () => {
    const store = await fileStore();
    const data = randomBytes(3 * 1024 * 1024 + 11);
    const digest = digestOf(data);
    const froms: number[] = [];
    const resume = vi.fn(async (from: number): Promise<BlobPiece> => {
      froms.push(from);
      // Each piece drops again 700 KiB further on, until the end.
      return { body: droppingBody(data.subarray(from), 700 * 1024), start: from };
    });
    const tee = streamThrough({
      source: droppingBody(data, 1024 * 1024 + 5),
      digest,
      size: data.length,
      store,
      resume,
    });
    const [body, info] = await Promise.all([readAll(tee.client), tee.done]);
    expect(body.equals(data)).toBe(true);
    expect(info).toEqual({ digest, size: data.length });
    expect(froms[0]).toBe(1024 * 1024 + 5);
    expect(froms.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < froms.length; i++) expect(froms[i]).toBeGreaterThan(froms[i - 1]!);
    expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    await store.close();
  });

  it('a piece from byte 0 (no range support) is re-read up to the byte reached: the client is not cut', async () => {
    const store = await fileStore();
    const data = randomBytes(2 * 1024 * 1024);
    const digest = digestOf(data);
    const starts: Array<[number, number]> = [];
    const tee = streamThrough({
      source: droppingBody(data, 900 * 1024 + 3),
      digest,
      size: data.length,
      store,
      resume: async () => ({ body: droppingBody(data), start: 0 }),
      onResume: (from, start) => starts.push([from, start]),
    });
    const [body, info] = await Promise.all([readAll(tee.client), tee.done]);
    expect(body.equals(data)).toBe(true);
    expect(info.size).toBe(data.length);
    expect(starts).toEqual([[900 * 1024 + 3, 0]]);
    await store.close();
  });

  it('a piece from byte 0 whose first bytes differ: the client is cut and nothing is cached', async () => {
    const store = await fileStore();
    const data = randomBytes(2 * 1024 * 1024);
    const digest = digestOf(data);
    const changed = Buffer.from(data);
    changed[1000] ^= 0xff;
    const tee = streamThrough({
      source: droppingBody(data, 1024 * 1024),
      digest,
      size: data.length,
      store,
      resume: async () => ({ body: droppingBody(changed), start: 0 }),
    });
    const outcome = await readAll(tee.client).catch((error: Error) => error);
    expect(outcome).toBeInstanceOf(Error);
    await expect(tee.done).rejects.toThrow(/differs from the 1048576 bytes already received/);
    await vi.waitFor(async () => expect(await readdir(store.paths.tmp)).toEqual([]));
    expect(await store.stat(digest)).toBeUndefined();
    await store.close();
  });

  it('a resume that gives up: its error is the outcome, the client is cut, nothing is cached', async () => {
    const store = await fileStore();
    const data = randomBytes(1024 * 1024);
    const digest = digestOf(data);
    let calls = 0;
    const tee = streamThrough({
      source: droppingBody(data, 300 * 1024),
      digest,
      size: data.length,
      store,
      resume: async (from) => {
        calls++;
        if (calls > 2) throw Object.assign(new Error('gave up'), { code: 'UPSTREAM_UNREACHABLE' });
        return { body: droppingBody(data.subarray(from), 10), start: from };
      },
    });
    expect(await readAll(tee.client).catch((error: Error) => error)).toBeInstanceOf(Error);
    await expect(tee.done).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    expect(calls).toBe(3);
    await vi.waitFor(async () => expect(await readdir(store.paths.tmp)).toEqual([]));
    expect(await store.stat(digest)).toBeUndefined();
    await store.close();
  });

  it('a body that ends short of its length is resumed too; a timeout is not', async () => {
    const store = await fileStore();
    const data = randomBytes(500_000);
    const digest = digestOf(data);
    const short = Readable.from([data.subarray(0, 200_000)]);
    const tee = streamThrough({
      source: short,
      digest,
      size: data.length,
      store,
      resume: async (from) => ({ body: Readable.from([data.subarray(from)]), start: from }),
    });
    const [body] = await Promise.all([readAll(tee.client), tee.done]);
    expect(body.equals(data)).toBe(true);

    const other = randomBytes(300_000);
    const resume = vi.fn();
    const timedOut = new Readable({ read() {} });
    const failing = streamThrough({ source: timedOut, digest: digestOf(other), size: other.length, store, resume });
    const cut = readAll(failing.client).catch((error: Error) => error);
    timedOut.push(other.subarray(0, 100_000));
    setTimeout(
      () => timedOut.destroy(Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' })),
      5,
    );
    await expect(failing.done).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    expect(await cut).toBeInstanceOf(Error);
    expect(resume).not.toHaveBeenCalled();
    await store.close();
  });
});
