/**
 * File driver crash behaviour with a real process: a writer killed with SIGKILL mid-putBlob leaves
 * only a temp file, which is never visible as a blob and is swept when a store opens; and a body
 * that fails midway keeps the bytes that reached the upload (the documented choice).
 */
import { spawn } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../../../runtime/oci/digest.ts';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

const driver = resolve(import.meta.dirname, '../../../../runtime/storage/drivers/file/file.ts');

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error('timed out waiting');
}

describe('file blob store: crashes', () => {
  it('a writer killed mid-putBlob leaves nothing visible, and its temp file is swept at open', async () => {
    const root = await dirs.make();
    const script = join(root, 'writer.mts');
    const digest = digestOf('never completes');
    await writeFile(
      script,
      `import { Readable } from 'node:stream';
import { createFileBlobStore } from ${JSON.stringify(driver)};
const store = await createFileBlobStore({ name: 'x', driver: 'file', path: ${JSON.stringify(join(root, 'store'))} });
async function* forever() { for (let i = 0; i < 100000; i++) { yield Buffer.alloc(1 << 20, i); await new Promise((r) => setTimeout(r, 5)); } }
await store.putBlob(${JSON.stringify(digest)}, Readable.from(forever()));
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), stdio: 'ignore' });
    const exited = new Promise((done) => child.once('exit', done));
    const tmp = join(root, 'store', 'tmp');
    const temp = await waitFor(async () => {
      const names = await readdir(tmp).catch(() => []);
      for (const name of names) if ((await stat(join(tmp, name))).size > 4 << 20) return name;
      return undefined;
    }, 20_000);
    child.kill('SIGKILL');
    await exited;

    const plan = { name: 'x', driver: 'file' as const, path: join(root, 'store') };
    const kept = await createFileBlobStore(plan, { sweepIntervalMs: 0 });
    expect(await kept.stat(digest)).toBeUndefined();
    expect(await readdir(tmp)).toContain(temp); // young temp files survive: a live writer may own them
    await kept.close();

    const store = await createFileBlobStore(plan, { tempMaxAgeMs: 0, sweepIntervalMs: 0 });
    expect(await readdir(tmp)).toEqual([]);
    expect(await store.stat(digest)).toBeUndefined();
    await store.close();
  }, 30_000);

  it('an append whose body fails midway keeps the bytes received; the upload continues and commits', async () => {
    const store = await createFileBlobStore(
      { name: 'x', driver: 'file', path: await dirs.make() },
      { sweepIntervalMs: 0 },
    );
    const upload = await store.createUpload(null);
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('first ');
        // Give the chunk time to reach the file: only bytes that reached it are kept.
        await new Promise((done) => setTimeout(done, 200));
        throw new Error('client went away');
      })(),
    );
    await expect(store.appendUpload(upload.id, 0, failing)).rejects.toThrow('client went away');
    const state = await store.getUpload(upload.id);
    expect(state?.offset).toBe(6);
    await store.appendUpload(upload.id, 6, Readable.from([Buffer.from('second')]));
    const digest = digestOf('first second');
    expect(await store.commitUpload(upload.id, digest, 12)).toEqual({ digest, size: 12 });
    await store.close();
  });
});
