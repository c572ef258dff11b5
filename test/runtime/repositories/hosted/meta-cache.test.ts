import { describe, expect, it } from 'vitest';
import { CachedHostedMetadata } from '../../../../runtime/repositories/hosted/meta-cache.ts';
import { type HostedMetadata, openHostedMetadata } from '../../../../runtime/repositories/hosted/metadata.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/** The real metadata over a memory store, counting store reads, with reads that can be held back. */
function setup(options: { maxAgeMs?: number; maxEntries?: number } = {}) {
  const store = createMemoryBlobStore({ name: 'default' });
  const inner = openHostedMetadata(store, 'repo');
  let clock = 0;
  const reads = { tag: 0, link: 0, layer: 0 };
  let hold: Promise<void> | undefined;
  const held = async <T>(read: () => Promise<T>): Promise<T> => {
    const value = await read();
    const wait = hold;
    hold = undefined;
    if (wait) await wait;
    return value;
  };
  let failWrites = false;
  const failing = async (write: () => Promise<void>) => {
    if (failWrites) throw new Error('disk full');
    await write();
  };
  const counted: HostedMetadata = {
    ...inner,
    getTag: (image, tag) => {
      reads.tag++;
      return held(() => inner.getTag(image, tag));
    },
    getManifestLink: (image, digest) => {
      reads.link++;
      return held(() => inner.getManifestLink(image, digest));
    },
    isBlobLinked: (image, digest) => {
      reads.layer++;
      return held(() => inner.isBlobLinked(image, digest));
    },
    setTag: (image, tag, digest) => failing(() => inner.setTag(image, tag, digest)),
  };
  const cache = new CachedHostedMetadata(counted, { ...options, now: () => clock });
  return {
    cache,
    inner,
    reads,
    advance: (ms: number) => {
      clock += ms;
    },
    /** Holds the next store read after it has read, until the returned function is called. */
    holdNextRead: () => {
      let release = () => {};
      hold = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
    failWrites: (on: boolean) => {
      failWrites = on;
    },
  };
}

describe('CachedHostedMetadata', () => {
  it('answers pull reads from the cache within the bound, then reads the store again', async () => {
    const { cache, inner, reads, advance } = setup({ maxAgeMs: 1000 });
    await inner.setTag('app', 'v1', d(1));
    await inner.linkManifest('app', d(1), { mediaType: 'application/json' });
    await inner.linkBlob('app', d(2));
    for (let i = 0; i < 3; i++) {
      expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
      expect((await cache.cachedManifestLink('app', d(1)))?.mediaType).toBe('application/json');
      expect(await cache.cachedBlobLinked('app', d(2))).toBe(true);
    }
    expect(reads).toEqual({ tag: 1, link: 1, layer: 1 });
    // Written behind the cache's back (another replica): seen once the bound has passed.
    await inner.setTag('app', 'v1', d(3));
    await inner.unlinkBlob('app', d(2));
    advance(999);
    expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
    expect(await cache.cachedBlobLinked('app', d(2))).toBe(true);
    advance(1);
    expect(await cache.cachedTag('app', 'v1')).toBe(d(3));
    expect(await cache.cachedBlobLinked('app', d(2))).toBe(false);
    expect(reads).toEqual({ tag: 2, link: 1, layer: 2 });
  });

  it('caches absence under the same bound', async () => {
    const { cache, inner, reads, advance } = setup({ maxAgeMs: 1000 });
    expect(await cache.cachedTag('app', 'v1')).toBeUndefined();
    await inner.setTag('app', 'v1', d(1));
    expect(await cache.cachedTag('app', 'v1')).toBeUndefined();
    advance(1000);
    expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
    expect(reads.tag).toBe(2);
  });

  it('shows its own writes and deletes at once', async () => {
    const { cache, reads } = setup();
    await cache.setTag('app', 'v1', d(1));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
    await cache.setTag('app', 'v1', d(2));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(2));
    await cache.deleteTag('app', 'v1');
    expect(await cache.cachedTag('app', 'v1')).toBeUndefined();
    await cache.linkManifest('app', d(2), { mediaType: 'x' });
    expect(await cache.cachedManifestLink('app', d(2))).toEqual({ mediaType: 'x' });
    await cache.unlinkManifest('app', d(2));
    expect(await cache.cachedManifestLink('app', d(2))).toBeUndefined();
    await cache.linkBlob('app', d(3));
    expect(await cache.cachedBlobLinked('app', d(3))).toBe(true);
    await cache.unlinkBlob('app', d(3));
    expect(await cache.cachedBlobLinked('app', d(3))).toBe(false);
    expect(reads).toEqual({ tag: 0, link: 0, layer: 0 });
  });

  it('never lets a read that a write overtook put the older answer back', async () => {
    const { cache, inner, holdNextRead } = setup();
    await inner.setTag('app', 'v1', d(1));
    const release = holdNextRead();
    const stale = cache.cachedTag('app', 'v1'); // reads d(1), held before it can fill the cache
    await new Promise((resolve) => setTimeout(resolve, 5));
    await cache.setTag('app', 'v1', d(2));
    release();
    expect(await stale).toBe(d(1));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(2));
  });

  it('keeps an overtaken read out even when the write entry was evicted meanwhile', async () => {
    const { cache, inner, reads, holdNextRead } = setup({ maxEntries: 1 });
    await inner.setTag('app', 'a', d(1));
    const release = holdNextRead();
    const stale = cache.cachedTag('app', 'a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await cache.setTag('app', 'a', d(2));
    await cache.cachedTag('app', 'b'); // evicts the entry the write left
    release();
    expect(await stale).toBe(d(1));
    const before = reads.tag;
    expect(await cache.cachedTag('app', 'a')).toBe(d(2));
    expect(reads.tag).toBe(before + 1);
  });

  it('forgets a key whose write failed, and reads the store next', async () => {
    const { cache, inner, reads, failWrites } = setup();
    await cache.setTag('app', 'v1', d(1));
    failWrites(true);
    await expect(cache.setTag('app', 'v1', d(2))).rejects.toThrow('disk full');
    failWrites(false);
    await inner.setTag('app', 'v1', d(3));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(3));
    expect(reads.tag).toBe(1);
  });

  it('forgets a key two writes overlapped on (the store kept one of them)', async () => {
    const { cache, reads } = setup();
    await Promise.all([cache.setTag('app', 'v1', d(1)), cache.setTag('app', 'v1', d(2))]);
    const now = await cache.cachedTag('app', 'v1');
    expect(reads.tag).toBe(1);
    expect([d(1), d(2)]).toContain(now);
    await cache.setTag('app', 'v1', d(3));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(3));
    expect(reads.tag).toBe(1);
  });

  it('always reads the store through the HostedMetadata interface (what writes decide on)', async () => {
    const { cache, inner, reads } = setup();
    await cache.setTag('app', 'v1', d(1));
    await inner.setTag('app', 'v1', d(2));
    expect(await cache.getTag('app', 'v1')).toBe(d(2));
    expect(await cache.isBlobLinked('app', d(9))).toBe(false);
    expect(await cache.getManifestLink('app', d(9))).toBeUndefined();
    expect(reads).toEqual({ tag: 1, link: 1, layer: 1 });
    // … and the cache learnt the fresher answer.
    expect(await cache.cachedTag('app', 'v1')).toBe(d(2));
    expect(reads.tag).toBe(1);
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const { cache, inner, reads } = setup({ maxEntries: 2 });
    for (const tag of ['a', 'b']) await inner.setTag('app', tag, d(1));
    await cache.cachedTag('app', 'a');
    await cache.cachedTag('app', 'b');
    await cache.cachedTag('app', 'a'); // a is now the most recent
    await cache.cachedTag('app', 'c');
    expect(cache.size).toBe(2);
    const before = reads.tag;
    await cache.cachedTag('app', 'a');
    expect(reads.tag).toBe(before);
    await cache.cachedTag('app', 'b');
    expect(reads.tag).toBe(before + 1);
  });

  it('with maxAgeMs 0 reads the store every time and keeps nothing', async () => {
    const { cache, reads } = setup({ maxAgeMs: 0 });
    await cache.setTag('app', 'v1', d(1));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
    expect(await cache.cachedTag('app', 'v1')).toBe(d(1));
    expect(reads.tag).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('passes listings and referrers through to the store', async () => {
    const { cache } = setup();
    await cache.setTag('app', 'v1', d(1));
    await cache.addReferrer('app', d(1), { mediaType: 'm', digest: d(2), size: 1 });
    expect(await cache.listTags('app')).toEqual(['v1']);
    expect(await cache.listImages()).toEqual(['app']);
    expect(await cache.hasImage('app')).toBe(true);
    expect((await cache.listReferrers('app', d(1))).map((r) => r.digest)).toEqual([d(2)]);
    await cache.removeReferrer('app', d(1), d(2));
    expect(await cache.listReferrers('app', d(1))).toEqual([]);
  });
});
