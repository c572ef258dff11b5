import { describe, expect, it } from 'vitest';
import { GcJournal } from '../../../runtime/gc/journal.ts';
import type { BlobStore } from '../../../runtime/storage/blob-store.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';

/** A store whose getMeta calls are counted. */
function counted(store: BlobStore): { store: BlobStore; gets: () => number } {
  let gets = 0;
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === 'getMeta') {
        return (key: string) => {
          gets++;
          return target.getMeta(key);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, gets: () => gets };
}

const intent = (image: string) => ({ repository: 'private', image, blobs: [], manifests: [] });

describe('GcJournal', () => {
  it('reads what was recorded since a time, fetching each intent once per instance', async () => {
    const memory = createMemoryBlobStore();
    let now = 1_000_000;
    const writer = new GcJournal(memory, () => now);
    await writer.record(intent('old'));
    now += 60_000;
    await writer.record(intent('a'));
    const { store, gets } = counted(memory);
    const reader = new GcJournal(store);
    expect((await reader.read(now - 1000)).map((i) => i.image)).toEqual(['a']);
    expect(gets()).toBe(1); // the older intent is skipped by its name, not fetched
    now += 1000;
    await writer.record(intent('b'));
    expect((await reader.read(now - 5000)).map((i) => i.image).sort()).toEqual(['a', 'b']);
    expect(gets()).toBe(2); // only the new one
  });

  it('a torn intent protects nothing and is not an error', async () => {
    const store = createMemoryBlobStore();
    const journal = new GcJournal(store, () => 1_000_000);
    await journal.record(intent('kept'));
    await store.putMeta(
      `gc/intents/${String(Math.floor(1_000_000 / 600_000)).padStart(10, '0')}/1000001-torn`,
      '{"repos',
    );
    expect((await journal.read(0)).map((i) => i.image)).toEqual(['kept']);
  });

  it('prune drops whole buckets that ended before a time', async () => {
    const store = createMemoryBlobStore();
    let now = 1_000_000;
    const journal = new GcJournal(store, () => now);
    await journal.record(intent('old'));
    now += 3_600_000;
    await journal.record(intent('new'));
    expect(await journal.prune(now - 60_000)).toBe(1);
    expect((await new GcJournal(store).read(0)).map((i) => i.image)).toEqual(['new']);
  });
});
