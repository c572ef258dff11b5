/**
 * The GC benchmark's seeders: a shape written into a regctl store is collected by regctl's own
 * collector exactly as the shape predicts, and distribution's filesystem layout lands on disk.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectGarbage } from '../../runtime/gc/collector.ts';
import { createMemoryBlobStore } from '../../runtime/storage/drivers/memory.ts';
import { TmpDirs } from '../../test/helpers/tmp.ts';
import { seedDistributionFiles, seedRegctlStore } from './gc-seed.ts';
import { buildGcShape } from './gc-shape.ts';

const HOUR = 3_600_000;
const shape = buildGcShape({ manifests: 32, orphans: 8, tagsPerImage: 8 });
const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

describe('seedRegctlStore', () => {
  it('writes a store whose collection deletes exactly the garbage the shape counts', async () => {
    const now = Date.now();
    const store = createMemoryBlobStore({ now: () => now - 2 * HOUR });
    const seeded = await seedRegctlStore(store, shape, {
      repository: 'bench',
      linkedAt: now - 2 * HOUR,
      concurrency: 4,
    });
    expect(seeded.blobs).toBe(shape.blobCount);
    const report = await collectGarbage(store, { gracePeriodMs: HOUR, settleMs: 0 });
    expect(report.scanned.blobs).toBe(shape.blobCount);
    expect(report.deleted.blobs).toHaveLength(shape.garbage.untaggedIncluded.blobs);
    expect(report.reclaimedBytes).toBe(shape.garbage.untaggedIncluded.bytes);
    expect(report.deleted.manifests).toHaveLength(shape.manifests.filter((m) => m.fate === 'untagged').length);
    const tagged = shape.manifests.find((m) => m.fate === 'tagged')!;
    for (const r of tagged.references) expect(await store.stat(r.digest)).toBeDefined();
  });
});

describe('seedDistributionFiles', () => {
  it('writes every blob and link of the layout under the root directory', async () => {
    const root = await dirs.make('regctl-gc-seed-');
    const written = await seedDistributionFiles(root, shape, { repository: 'bench', concurrency: 4 });
    const tagged = shape.manifests.find((m) => m.fate === 'tagged')!;
    const v2 = join(root, 'docker/registry/v2');
    const hex = tagged.digest.slice(7);
    expect(await readFile(join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data'))).toEqual(tagged.bytes);
    expect(
      await readFile(
        join(v2, 'repositories/bench', tagged.image, '_manifests/tags', tagged.tag, 'current/link'),
        'utf8',
      ),
    ).toBe(tagged.digest);
    expect(written).toBeGreaterThan(shape.blobCount);
  });
});
