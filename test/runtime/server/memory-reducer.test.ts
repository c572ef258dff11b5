/**
 * The idle memory reducer: it collects only when no request is in flight at two looks in a row
 * and the heap has not moved between them, and then when the heap has grown enough since the last
 * collection or commits much more than it uses (a few times, spaced out); and V8's own full
 * collection, fetched through `--expose-gc`, really gives garbage back.
 */
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { boundBatchHeap, exposedGc, startMemoryReducer } from '../../../runtime/server/memory-reducer.ts';

const MiB = 1024 * 1024;

/**
 * A reducer on a fake heap and clock: `heap.used`, `heap.committed`, `heap.inFlight` and
 * `clock.ms` are set by the test, `tick()` looks. A collection brings `used` to
 * `heap.usedAfterCollect` (12 MiB) and `committed` to `heap.committedAfterCollect`.
 */
function fakeReducer() {
  const heap = {
    used: 10 * MiB,
    committed: 20 * MiB,
    usedAfterCollect: 12 * MiB,
    committedAfterCollect: 20 * MiB,
    inFlight: 0,
    collected: 0,
  };
  const clock = { ms: 0 };
  const reducer = startMemoryReducer({
    inFlight: () => heap.inFlight,
    heap: () => ({ used: heap.used, committed: heap.committed }),
    collect: () => {
      heap.collected += 1;
      heap.used = heap.usedAfterCollect;
      heap.committed = heap.committedAfterCollect;
    },
    growthBytes: 16 * MiB,
    slackBytes: 16 * MiB,
    now: () => clock.ms,
    intervalMs: 3_600_000,
  });
  if (reducer === undefined) throw new Error('a reducer with its own collect always starts');
  return { heap, clock, reducer };
}

describe('memory reducer', () => {
  it('collects an idle, quiet heap that grew past the threshold, once', () => {
    const { heap, reducer } = fakeReducer();
    heap.used = 60 * MiB; // a burst left garbage
    heap.committed = 70 * MiB;
    reducer.tick(); // first look: nothing to compare with yet
    expect(heap.collected).toBe(0);
    reducer.tick(); // idle twice, unmoved: collect
    expect(heap.collected).toBe(1);
    expect(reducer.collections).toBe(1);
    reducer.tick();
    reducer.tick();
    expect(heap.collected).toBe(1); // back at the baseline: nothing more to give
    reducer.stop();
  });

  it('never collects while a request is in flight, nor while the heap moves', () => {
    const { heap, reducer } = fakeReducer();
    heap.used = 60 * MiB;
    heap.committed = 70 * MiB;
    heap.inFlight = 1;
    for (let i = 0; i < 3; i++) reducer.tick();
    expect(heap.collected).toBe(0);
    heap.inFlight = 0;
    reducer.tick(); // idle now, but the look before was busy
    expect(heap.collected).toBe(0);
    heap.used += 4 * MiB; // something still allocates (a background job)
    heap.committed += 4 * MiB;
    reducer.tick();
    expect(heap.collected).toBe(0);
    reducer.tick(); // quiet at last
    expect(heap.collected).toBe(1);
    reducer.stop();
  });

  it('leaves a heap alone that grew less than the threshold', () => {
    const { heap, reducer } = fakeReducer();
    heap.used = 20 * MiB; // 10 MiB over the start: below 16
    heap.committed = 30 * MiB; // and 10 MiB of slack: below 16 too
    for (let i = 0; i < 4; i++) reducer.tick();
    expect(heap.collected).toBe(0);
    heap.used = 4 * MiB; // V8 collected by itself: the new reference
    reducer.tick();
    heap.used = 18 * MiB; // 14 MiB over that
    heap.committed = 28 * MiB;
    reducer.tick();
    reducer.tick();
    expect(heap.collected).toBe(0);
    heap.used = 21 * MiB;
    heap.committed = 31 * MiB;
    reducer.tick();
    reducer.tick();
    expect(heap.collected).toBe(1);
    reducer.stop();
  });

  it('collects again for a heap that commits far more than it uses: spaced 6 s apart, three times per quiet spell', () => {
    const { heap, clock, reducer } = fakeReducer();
    heap.used = 14 * MiB; // little garbage (4 MiB over the start) …
    heap.committed = 76 * MiB; // … but a grown young generation and half-empty pages
    heap.committedAfterCollect = 60 * MiB; // which V8 keeps at first
    reducer.tick();
    clock.ms += 2000;
    reducer.tick(); // quiet: the first collection, for the slack
    expect(heap.collected).toBe(1);
    clock.ms += 2000;
    reducer.tick();
    clock.ms += 2000;
    reducer.tick(); // 4 s after it: too soon for V8 to judge the burst over
    expect(heap.collected).toBe(1);
    clock.ms += 2000;
    reducer.tick(); // 6 s after it
    expect(heap.collected).toBe(2);
    for (let i = 0; i < 10; i++) {
      clock.ms += 2000;
      reducer.tick();
    }
    expect(heap.collected).toBe(3); // then no more in this quiet spell, whatever V8 keeps
    heap.inFlight = 1; // a request: the spell ends
    clock.ms += 2000;
    reducer.tick();
    heap.inFlight = 0;
    for (let i = 0; i < 4; i++) {
      clock.ms += 2000;
      reducer.tick();
    }
    expect(heap.collected).toBe(4); // a new spell may collect for slack again
    heap.committedAfterCollect = 14 * MiB; // V8 gave it back this time
    for (let i = 0; i < 10; i++) {
      clock.ms += 2000;
      reducer.tick();
    }
    expect(heap.collected).toBe(5); // nothing more to give
    expect(reducer.collections).toBe(5);
    reducer.stop();
  });

  it('leaves a large live heap its headroom: slack under half the used size is not collected', () => {
    const { heap, clock, reducer } = fakeReducer();
    heap.used = 250 * MiB; // e.g. large metadata caches, all live …
    heap.committed = 340 * MiB; // … with 90 MiB of headroom: over 16 MiB, under half of 250
    heap.usedAfterCollect = 250 * MiB;
    heap.committedAfterCollect = 340 * MiB;
    reducer.tick(); // the growth rule sees 240 MiB of growth: one collection, as before
    clock.ms += 2000;
    reducer.tick();
    expect(heap.collected).toBe(1);
    for (let i = 0; i < 10; i++) {
      clock.ms += 2000;
      reducer.tick();
    }
    expect(heap.collected).toBe(1);
    heap.committed = 380 * MiB; // 130 MiB over: more than half of 250
    for (let i = 0; i < 3; i++) {
      clock.ms += 2000;
      reducer.tick();
    }
    expect(heap.collected).toBe(2);
    reducer.stop();
  });

  it('V8’s collection, fetched through --expose-gc, gives unreachable memory back', () => {
    const gc = exposedGc();
    expect(typeof gc).toBe('function');
    expect(exposedGc()).toBe(gc); // fetched once
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined'); // not exposed to this context
    // Made and dropped in functions of their own, so that no frame of this one still points at it.
    const holder: { garbage?: number[][] } = {};
    const fill = () => {
      holder.garbage = Array.from({ length: 64 }, () => Array.from({ length: 65_536 }, (_, i) => i));
    };
    fill();
    const held = getHeapStatistics().used_heap_size;
    delete holder.garbage;
    gc?.();
    // 64 arrays of 65 536 small integers: 32 MiB at least, all of it unreachable now.
    expect(held - getHeapStatistics().used_heap_size).toBeGreaterThan(24 * MiB);
  });
});

describe('batch heap bound (regctl gc, regctl usage)', () => {
  it('collects whenever the heap grew the threshold since the last collection, busy or not', () => {
    const heap = { used: 10 * MiB, collected: 0 };
    const bound = boundBatchHeap({
      heap: () => ({ used: heap.used, committed: heap.used }),
      collect: () => {
        heap.collected += 1;
        heap.used = 14 * MiB;
      },
      growthBytes: 32 * MiB,
      intervalMs: 3_600_000,
    });
    try {
      heap.used = 41 * MiB; // grown 31 MiB: not yet
      bound.tick();
      expect(heap.collected).toBe(0);
      heap.used = 42 * MiB;
      bound.tick();
      expect(heap.collected).toBe(1);
      heap.used = 45 * MiB; // 31 MiB above the 14 left after that collection
      bound.tick();
      expect(heap.collected).toBe(1);
      heap.used = 8 * MiB; // V8 collected by itself: the new reference
      bound.tick();
      heap.used = 39 * MiB;
      bound.tick();
      expect(heap.collected).toBe(1);
      heap.used = 40 * MiB;
      bound.tick();
      expect(heap.collected).toBe(2);
      expect(bound.collections).toBe(2);
    } finally {
      bound.stop();
    }
  });
});
