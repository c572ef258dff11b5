/**
 * The file store's upload lifecycle: the shared suite, plus what only the file driver shows on
 * disk (the bytes of a refused append cut off at once, the sweep's own timer, folders it did not
 * make).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileBlobStorePlan } from '../../../../compiler/plan.ts';
import { createFileBlobStore, type FileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { uploadSweepPeriodMs } from '../../../../runtime/storage/upload-budget.ts';
import { codeOf } from '../../../suites/blob-store.ts';
import { describeUploadLifecycle, type UploadSettings } from '../../../suites/upload-lifecycle.ts';

const plan = (path: string, settings: UploadSettings): FileBlobStorePlan => ({
  name: 'default',
  driver: 'file',
  path,
  uploads: { timeoutMs: settings.uploadTimeoutMs, maxBytes: settings.maxUploadBytes },
});

describeUploadLifecycle(
  'file',
  async (settings) => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-file-uploads-'));
    let store = await createFileBlobStore(plan(dir, settings), { sweepIntervalMs: 0 });
    return {
      get store() {
        return store;
      },
      get budget() {
        return store.uploadBudget;
      },
      sweep: async (now) => void (await store.sweep(now)),
      reopen: async () => {
        await store.close();
        store = await createFileBlobStore(plan(dir, settings), { sweepIntervalMs: 0 });
        return { store, budget: store.uploadBudget };
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  { persistent: true },
);

describe('file store uploads on disk', () => {
  const dirs: string[] = [];
  const stores: FileBlobStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  const openStore = async (settings: UploadSettings, sweepIntervalMs?: number) => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-file-uploads-'));
    dirs.push(dir);
    const store = await createFileBlobStore(plan(dir, settings), { sweepIntervalMs });
    stores.push(store);
    return { dir, store };
  };

  it('cuts the bytes of a refused append off the data file at once', async () => {
    const { dir, store } = await openStore({ uploadTimeoutMs: 3_600_000, maxUploadBytes: 3 * 1024 * 1024 }, 0);
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([randomBytes(1024 * 1024)]));
    const chunks = Array.from({ length: 4 }, () => randomBytes(1024 * 1024)); // 1 MiB writes reach the file
    expect(await codeOf(store.appendUpload(session.id, 1024 * 1024, Readable.from(chunks)))).toBe(
      'STORAGE_UPLOAD_LIMIT',
    );
    expect((await stat(join(dir, 'uploads', session.id, 'data'))).size).toBe(1024 * 1024);
    expect((await store.getUpload(session.id))?.offset).toBe(1024 * 1024);
  });

  it('sweeps on its own timer, every quarter of the timeout', async () => {
    expect(uploadSweepPeriodMs(3_600_000)).toBe(5 * 60_000); // capped at 5 minutes
    expect(uploadSweepPeriodMs(2000)).toBe(500);
    const { dir, store } = await openStore({ uploadTimeoutMs: 400, maxUploadBytes: null });
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([randomBytes(1000)]));
    const deadline = Date.now() + 3000;
    while ((await readdir(join(dir, 'uploads'))).includes(session.id) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await readdir(join(dir, 'uploads'))).toEqual([]);
    expect(store.uploadBudget.inProgressBytes).toBe(0);
  });

  it('leaves folders in uploads/ that are no session of its own alone', async () => {
    const { dir, store } = await openStore({ uploadTimeoutMs: 1000, maxUploadBytes: null }, 0);
    await mkdir(join(dir, 'uploads', 'lost+found'));
    await store.sweep(Date.now() + 10_000);
    expect(await readdir(join(dir, 'uploads'))).toEqual(['lost+found']);
  });
});
