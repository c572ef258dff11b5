import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileBlobStorePlan } from '../../../../compiler/plan.ts';
import { createFileBlobStore, type FileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { codeOf, describeBlobStore, digestOf, readAll } from '../../../suites/blob-store.ts';
import { describeHashedBlobWrites } from '../../../suites/hashed-blob-writes.ts';

const plan = (path: string): FileBlobStorePlan => ({ name: 'default', driver: 'file', path });

const factory = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-file-store-'));
  const store = await createFileBlobStore(plan(dir), { sweepIntervalMs: 0 });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
};

describeBlobStore('file', factory);
describeHashedBlobWrites('file', factory, { leftovers: (store) => readdir((store as FileBlobStore).paths.tmp) });

describe('file blob store specifics', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  const tempRoot = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-file-store-'));
    dirs.push(dir);
    return dir;
  };

  it('continues an upload after a restart: a new instance on the same root rebuilds the hash', async () => {
    const root = await tempRoot();
    const data = randomBytes(300_000);
    const first = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    const upload = await first.createUpload({ image: 'a' });
    await first.appendUpload(upload.id, 0, Readable.from([data.subarray(0, 150_000)]));
    await first.close();

    const second = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    expect((await second.getUpload(upload.id))?.offset).toBe(150_000);
    await second.appendUpload(upload.id, 150_000, Readable.from([data.subarray(150_000)]));
    expect(await second.commitUpload(upload.id, digestOf(data))).toEqual({ digest: digestOf(data), size: data.length });
    expect((await readAll(await second.read(digestOf(data)))).equals(data)).toBe(true);
    await second.close();
  });

  it('sweeps stale temp files and abandoned upload sessions at open, never exposing them', async () => {
    const root = await tempRoot();
    const store = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    const upload = await store.createUpload(null);
    await store.appendUpload(upload.id, 0, Readable.from([Buffer.from('partial')]));
    const fresh = await store.createUpload(null);
    await store.close();
    const tmp = join(root, 'tmp');
    await writeFile(join(tmp, 'blob-debris'), 'half a blob');
    const old = new Date(Date.now() - 48 * 3600_000);
    await utimes(join(tmp, 'blob-debris'), old, old);
    const session = join(root, 'uploads', upload.id);
    for (const path of ['data', 'state.json', '.']) await utimes(join(session, path), old, old);
    const reopened = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    expect(await reopened.getUpload(upload.id)).toBeUndefined();
    expect(await reopened.getUpload(fresh.id)).toBeDefined(); // within the default 1h
    expect(await readdir(tmp)).not.toContain('blob-debris');
    expect(await reopened.stat(digestOf(Buffer.from('partial')))).toBeUndefined();
    await reopened.close();
  });

  it('keeps memory flat while a 512 MiB blob streams in', async () => {
    const root = await tempRoot();
    const store = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    const chunk = randomBytes(1024 * 1024);
    const total = 512;
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256');
    for (let i = 0; i < total; i++) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}`;
    const before = process.memoryUsage().rss;
    let peak = before;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < total; i++) {
          peak = Math.max(peak, process.memoryUsage().rss);
          yield chunk;
        }
      })(),
    );
    expect(await store.putBlob(digest, body)).toEqual({ digest, size: total * 1024 * 1024 });
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
    await store.close();
  }, 120_000);

  it('a body failing with a batch still gathered leaves nothing visible and no temp file', async () => {
    const root = await tempRoot();
    const store = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    const whole = Buffer.alloc(4 * 1024 * 1024, 7);
    const digest = digestOf(whole);
    const broken = new Error('client went away');
    // 3.5 MiB arrive: three 1 MiB batches reach the temp file, half a batch is still gathered.
    const body = Readable.from(
      (async function* () {
        for (let offset = 0; offset < 3.5 * 1024 * 1024; offset += 64 * 1024)
          yield whole.subarray(offset, offset + 64 * 1024);
        throw broken;
      })(),
    );
    await expect(store.putBlob(digest, body)).rejects.toBe(broken);
    expect(await store.stat(digest)).toBeUndefined();
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await store.putBlob(digest, Readable.from([whole]))).toEqual({ digest, size: whole.length });
    expect((await readAll(await store.read(digest))).equals(whole)).toBe(true);
    await store.close();
  });

  it('an append breaking off mid-batch keeps every byte that arrived, and the upload commits', async () => {
    const root = await tempRoot();
    const store = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    const whole = Buffer.alloc(3 * 1024 * 1024, 3);
    const arrived = 1.5 * 1024 * 1024; // one full batch written, half a batch gathered
    const upload = await store.createUpload(null);
    const body = Readable.from(
      (async function* () {
        for (let offset = 0; offset < arrived; offset += 64 * 1024) yield whole.subarray(offset, offset + 64 * 1024);
        throw new Error('client went away');
      })(),
    );
    await expect(store.appendUpload(upload.id, 0, body)).rejects.toThrow('client went away');
    expect((await store.getUpload(upload.id))?.offset).toBe(arrived);
    await store.appendUpload(upload.id, arrived, Readable.from([whole.subarray(arrived)]));
    const digest = digestOf(whole);
    expect(await store.commitUpload(upload.id, digest, whole.length)).toEqual({ digest, size: whole.length });
    expect((await readAll(await store.read(digest))).equals(whole)).toBe(true);
    await store.close();
  });

  it('refuses invalid digests before touching the disk', async () => {
    const root = await tempRoot();
    const store = await createFileBlobStore(plan(root), { sweepIntervalMs: 0 });
    for (const digest of ['sha256:../../etc/passwd', 'md5:abc', 'sha256:ABC', 'sha256:' + 'a'.repeat(63)]) {
      expect(await codeOf(store.stat(digest)), digest).not.toBe('resolved');
    }
    await store.close();
  });
});
