/** What the file driver's compare-and-swap does beyond the conformance suite: a crashed writer's lock. */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

describe('file store putMetaIf', () => {
  it('takes over a lock a crashed writer left (older than 10 s) instead of waiting on it forever', async () => {
    const store = await createFileBlobStore({ name: 'default', driver: 'file', path: await dirs.make() });
    try {
      const lock = store.paths.lock('gc/lease');
      await mkdir(dirname(lock), { recursive: true });
      await writeFile(lock, '');
      const old = new Date(Date.now() - 30_000);
      await utimes(lock, old, old);
      const started = Date.now();
      expect(await store.putMetaIf('gc/lease', 'mine', null)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect((await store.getMeta('gc/lease'))?.toString()).toBe('mine');
    } finally {
      await store.close();
    }
  });
});
