import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LOW_WATER, planEviction } from '../../../runtime/gc/eviction.ts';
import { ProxyCache } from '../../../runtime/repositories/proxy/cache-records.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { sha256 } from '../../suites/repository.ts';

async function cacheImage(
  cache: ProxyCache,
  store: ReturnType<typeof createMemoryBlobStore>,
  image: string,
  blobs: Buffer[],
) {
  for (const blob of blobs) {
    await store.putBlob(sha256(blob), Readable.from([blob]));
    await cache.linkBlob(image, sha256(blob));
  }
}

describe('planEviction', () => {
  it('nothing to evict under the cap', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const cache = new ProxyCache(store, 'hub');
    await cacheImage(cache, store, 'a', [Buffer.alloc(100, 1)]);
    const plan = await planEviction(store, 'hub', 1000);
    expect(plan).toMatchObject({ usedBytes: 100, evictCount: 0, evictBytes: 0 });
    expect(plan.evict.size).toBe(0);
  });

  it('evicts whole images, least recently used first, down to the low-water mark; shared blobs go with the last image', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    let now = 1_000_000;
    const cache = new ProxyCache(store, 'hub', () => now);
    const shared = Buffer.alloc(300, 9);
    await cacheImage(cache, store, 'old', [Buffer.alloc(400, 1), shared]);
    now += 1000;
    await cacheImage(cache, store, 'middle', [Buffer.alloc(400, 2), shared]);
    now += 1000;
    await cacheImage(cache, store, 'new', [Buffer.alloc(400, 3)]);
    // 'old' was pulled last: it is the most recently used
    await store.putMeta(cache.pulledKey(sha256(Buffer.alloc(400, 1))), String(now + 5000));
    const plan = await planEviction(store, 'hub', 1300);
    expect(plan.usedBytes).toBe(1500);
    expect([...plan.evict.keys()]).toEqual(['middle']);
    expect(plan.evictBytes).toBe(400); // the shared blob stays with 'old'
    expect(plan.usedBytes - plan.evictBytes).toBeLessThanOrEqual(1300 * LOW_WATER);
  });
});
