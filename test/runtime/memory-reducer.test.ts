/**
 * The idle memory reducer: it collects only when no request is in flight at two looks in a row,
 * the heap has not moved between them and has grown enough since the last collection; and V8's
 * own full collection, fetched through `--expose-gc`, really gives garbage back.
 */
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { exposedGc, startMemoryReducer } from '../../runtime/memory-reducer.ts';

const MiB = 1024 * 1024;

/** A reducer on a fake heap: `heap.used` and `heap.inFlight` are set by the test, `tick()` looks. */
function fakeReducer() {
  const heap = { used: 10 * MiB, inFlight: 0, collected: 0 };
  const reducer = startMemoryReducer({
    inFlight: () => heap.inFlight,
    heapUsed: () => heap.used,
    collect: () => {
      heap.collected += 1;
      heap.used = 12 * MiB;
    },
    growthBytes: 16 * MiB,
    intervalMs: 3_600_000,
  });
  if (reducer === undefined) throw new Error('a reducer with its own collect always starts');
  return { heap, reducer };
}

describe('memory reducer', () => {
  it('collects an idle, quiet heap that grew past the threshold, once', () => {
    const { heap, reducer } = fakeReducer();
    heap.used = 60 * MiB; // a burst left garbage
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
    heap.inFlight = 1;
    for (let i = 0; i < 3; i++) reducer.tick();
    expect(heap.collected).toBe(0);
    heap.inFlight = 0;
    reducer.tick(); // idle now, but the look before was busy
    expect(heap.collected).toBe(0);
    heap.used += 4 * MiB; // something still allocates (a background job)
    reducer.tick();
    expect(heap.collected).toBe(0);
    reducer.tick(); // quiet at last
    expect(heap.collected).toBe(1);
    reducer.stop();
  });

  it('leaves a heap alone that grew less than the threshold', () => {
    const { heap, reducer } = fakeReducer();
    heap.used = 20 * MiB; // 10 MiB over the start: below 16
    for (let i = 0; i < 4; i++) reducer.tick();
    expect(heap.collected).toBe(0);
    heap.used = 4 * MiB; // V8 collected by itself: the new reference
    reducer.tick();
    heap.used = 18 * MiB; // 14 MiB over that
    reducer.tick();
    reducer.tick();
    expect(heap.collected).toBe(0);
    heap.used = 21 * MiB;
    reducer.tick();
    reducer.tick();
    expect(heap.collected).toBe(1);
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
