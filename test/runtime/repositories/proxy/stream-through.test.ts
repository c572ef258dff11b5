/**
 * streamThrough on its own: one upstream body to the client and the store at once, hashed once
 * when the store offers `putHashedBlob` (and by the store itself through `putBlob` when it does
 * not), never leaving a wrong or partial blob visible, never completing a wrong client body.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { digestOf } from '../../../../runtime/oci/digest.ts';
import { streamThrough } from '../../../../runtime/repositories/proxy/stream-through.ts';
import type { BlobStore } from '../../../../runtime/storage/blob-store.ts';
import { createFileBlobStore, type FileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';

/** `store` seen through a Proxy: `overrides` replace members, the rest stay bound to the real store. */
function withOverrides(store: BlobStore, overrides: Record<string, unknown>): BlobStore {
  return new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key as string];
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** An upstream body delivered in 64 KiB chunks. */
function upstreamBody(data: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += 64 * 1024)
    chunks.push(data.subarray(offset, offset + 64 * 1024));
  return Readable.from(chunks);
}

/** The first bytes a paused reader takes from `stream` (what is buffered then), leaving it paused. */
function firstRead(stream: Readable): Promise<Buffer> {
  return new Promise((resolve) => stream.once('readable', () => resolve(stream.read() as Buffer)));
}

/** What the client stream delivered, or the error that cut it. */
async function clientOutcome(client: Readable): Promise<Buffer | Error> {
  return readAll(client).catch((error: Error) => error);
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function fileStore(): Promise<FileBlobStore> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-stream-through-'));
  dirs.push(dir);
  return createFileBlobStore({ name: 'default', driver: 'file', path: dir }, { sweepIntervalMs: 0 });
}

describe('streamThrough', () => {
  it('hashes once: a store with putHashedBlob gets the hash and is never asked to putBlob', async () => {
    const memory = createMemoryBlobStore();
    const putBlob = vi.fn(memory.putBlob.bind(memory));
    const putHashedBlob = vi.fn(memory.putHashedBlob.bind(memory));
    const store = withOverrides(memory, { putBlob, putHashedBlob });
    const data = randomBytes(1024 * 1024 + 17);
    const digest = digestOf(data);
    const tee = streamThrough({ source: upstreamBody(data), digest, size: data.length, store });
    const [received, info] = await Promise.all([clientOutcome(tee.client), tee.done]);
    expect(received).toEqual(data);
    expect(info).toEqual({ digest, size: data.length });
    expect(putHashedBlob).toHaveBeenCalledTimes(1);
    expect(putHashedBlob.mock.calls[0]![2].expectedSize).toBe(data.length);
    expect(putBlob).not.toHaveBeenCalled();
    expect((await readAll(await memory.read(digest))).equals(data)).toBe(true);
  });

  it('falls back to putBlob (the store verifies) when the store has no putHashedBlob', async () => {
    const memory = createMemoryBlobStore();
    const putBlob = vi.fn(memory.putBlob.bind(memory));
    const store = withOverrides(memory, { putBlob, putHashedBlob: undefined });
    const data = randomBytes(300_000);
    const digest = digestOf(data);
    const tee = streamThrough({ source: upstreamBody(data), digest, size: undefined, store });
    const [received, info] = await Promise.all([clientOutcome(tee.client), tee.done]);
    expect(received).toEqual(data);
    expect(info).toEqual({ digest, size: data.length });
    expect(putBlob).toHaveBeenCalledTimes(1);
    expect(await memory.stat(digest)).toEqual({ digest, size: data.length });
  });

  it('a body that hashes to something else: the client is cut, nothing is visible, no temp file is left', async () => {
    const store = await fileStore();
    const data = randomBytes(700_000);
    const digest = digestOf(data);
    const corrupt = Buffer.from(data);
    corrupt[500_000] ^= 0xff;
    const tee = streamThrough({ source: upstreamBody(corrupt), digest, size: data.length, store });
    const outcome = await clientOutcome(tee.client);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/hashes to sha256:/);
    await expect(tee.done).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
    await vi.waitFor(async () => expect(await readdir(store.paths.tmp)).toEqual([]));
    expect(await store.stat(digest)).toBeUndefined();
    await store.close();
  });

  it('an upstream that dies midway: the client is cut, nothing is visible, no temp file is left', async () => {
    const store = await fileStore();
    const data = randomBytes(2 * 1024 * 1024);
    const digest = digestOf(data);
    const source = new PassThrough();
    const tee = streamThrough({ source, digest, size: data.length, store });
    const outcome = clientOutcome(tee.client);
    source.write(data.subarray(0, 1024 * 1024));
    setTimeout(() => source.destroy(new Error('socket hang up')), 10);
    expect(await outcome).toBeInstanceOf(Error);
    await expect(tee.done).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    await vi.waitFor(async () => expect(await readdir(store.paths.tmp)).toEqual([]));
    expect(await store.stat(digest)).toBeUndefined();
    await store.close();
  });

  it('a body longer than announced is refused before the client gets it all', async () => {
    const store = createMemoryBlobStore();
    const data = randomBytes(200_000);
    const tee = streamThrough({ source: upstreamBody(data), digest: digestOf(data), size: 100_000, store });
    expect(await clientOutcome(tee.client)).toBeInstanceOf(Error);
    await expect(tee.done).rejects.toThrow(/more than 100000 bytes/);
    expect(await store.stat(digestOf(data))).toBeUndefined();
  });

  it('a store that asks for the hash before the body ended gets an error, and the client is cut', async () => {
    const memory = createMemoryBlobStore();
    const store = withOverrides(memory, {
      putHashedBlob: async (_digest: string, body: Readable, options: { hashed: () => unknown }) => {
        body.resume();
        return options.hashed();
      },
    });
    const data = randomBytes(3 * 1024 * 1024);
    const tee = streamThrough({ source: upstreamBody(data), digest: digestOf(data), size: data.length, store });
    await expect(tee.done).rejects.toThrow(/asked for the hash too early/);
    expect(await clientOutcome(tee.client)).toBeInstanceOf(Error);
  });

  it('a client that stops reading is detached: the fill completes, then the client gets the rest from the store', async () => {
    const store = await fileStore();
    const data = randomBytes(12 * 1024 * 1024 + 5);
    const digest = digestOf(data);
    const tee = streamThrough({
      source: upstreamBody(data),
      digest,
      size: data.length,
      store,
      clientStallMs: 100,
    });
    // Read what is buffered once, then nothing: in lockstep the fill would wait here for ever.
    const first = await firstRead(tee.client);
    const started = Date.now();
    const info = await tee.done;
    expect(info).toEqual({ digest, size: data.length });
    expect(Date.now() - started).toBeLessThan(5000);
    // The client resumes and gets every byte, in order: the buffered part, then the store's.
    const rest = await readAll(tee.client);
    expect(digestOf(Buffer.concat([first, rest]))).toBe(digest);
  });

  it('a detached client whose blob turns out wrong is cut, never completed', async () => {
    const store = await fileStore();
    const data = randomBytes(12 * 1024 * 1024);
    const corrupt = Buffer.from(data);
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1]! + 1) % 256;
    const tee = streamThrough({
      source: upstreamBody(corrupt),
      digest: digestOf(data),
      size: data.length,
      store,
      clientStallMs: 50,
    });
    await firstRead(tee.client);
    const outcome = new Promise<Error | undefined>((resolve) => {
      tee.client.once('error', resolve);
      tee.client.once('end', () => resolve(undefined));
    });
    await expect(tee.done).rejects.toThrow(/hashes to/);
    tee.client.resume();
    expect(await outcome).toBeInstanceOf(Error);
    expect(await store.stat(digestOf(data))).toBeUndefined();
  });

  it('a client that keeps up is never detached (all bytes come through the tee)', async () => {
    const memory = createMemoryBlobStore();
    const read = vi.fn(memory.read.bind(memory));
    const store = withOverrides(memory, { read });
    const data = randomBytes(6 * 1024 * 1024);
    const tee = streamThrough({
      source: upstreamBody(data),
      digest: digestOf(data),
      size: data.length,
      store,
      clientStallMs: 1000,
    });
    const body = await readAll(tee.client);
    await tee.done;
    expect(digestOf(body)).toBe(digestOf(data));
    expect(read).not.toHaveBeenCalled();
  });
});
