/**
 * Gives a burst's memory back once the server is idle again.
 *
 * The launcher turns V8's incremental marking off (bin/v8-flags.mjs): it made a push pay for a
 * mark-compact every ~30 MiB. The price is that the old generation now fills up to its limit
 * before it is collected, and V8's own memory reducer, which collects an idle heap by incremental
 * marking, no longer runs: after a request-rate burst the heap kept its garbage (measured: 47 MiB
 * used after 8 s of manifest GETs, 20 MiB of it live) until the next burst, whose first
 * mark-compact then had it all to sweep.
 *
 * This takes the memory reducer's place: every `intervalMs` it looks at the heap, and when no
 * request has been in flight at two looks in a row, the heap has not moved between them (nothing
 * else runs either), and it holds `growthBytes` more than after the last collection, it runs one
 * full collection: 10–30 ms of an idle event loop (15 ms for the 47 MiB above). V8 unmaps the
 * pages that end up empty, a second later; it keeps its young generation and partly used pages,
 * so the resident size drops by little (137 → 134 MiB there). A busy server is never collected
 * by it. (V8's `gc` is called without options: given any, the one in Node 20 collects nothing;
 * measured.)
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyBaseLogger } from 'fastify';

/** V8's full collection (its `gc` extension). */
type Collect = () => void;

let exposed: Collect | null | undefined;

/**
 * V8's `gc` function, fetched once from a new context made while `--expose-gc` is on (the flag
 * then goes back off, so no other context sees it); undefined where V8 refuses.
 */
export function exposedGc(): Collect | undefined {
  if (exposed === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      exposed = typeof gc === 'function' ? (gc as Collect) : null;
    } catch {
      exposed = null;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  return exposed ?? undefined;
}

export interface MemoryReducerOptions {
  /** Requests being served now. */
  readonly inFlight: () => number;
  /** How often the heap is looked at (default 2 s). */
  readonly intervalMs?: number;
  /** Growth since the last collection that an idle server gives back (default 16 MiB). */
  readonly growthBytes?: number;
  /** Heap bytes in use (default V8's figure); for tests. */
  readonly heapUsed?: () => number;
  /** The collection (default V8's full collection); for tests. */
  readonly collect?: () => void;
  readonly log?: FastifyBaseLogger;
}

/** A running reducer. */
export interface MemoryReducer {
  /** Collections run so far. */
  readonly collections: number;
  /** Looks once now, as the timer does (tests). */
  tick(): void;
  stop(): void;
}

/** Heap movement between two looks below which nothing is taken to be running. */
const QUIET_BYTES = 1024 * 1024;

/** Starts the reducer; undefined when V8's collection function cannot be had. */
export function startMemoryReducer(options: MemoryReducerOptions): MemoryReducer | undefined {
  const collect = options.collect ?? exposedGc();
  if (collect === undefined) return undefined;
  const heapUsed = options.heapUsed ?? (() => getHeapStatistics().used_heap_size);
  const growth = options.growthBytes ?? 16 * 1024 * 1024;
  let baseline = heapUsed();
  let previous: { used: number; idle: boolean } | undefined;
  let collections = 0;

  const tick = () => {
    const used = heapUsed();
    const idle = options.inFlight() === 0;
    const quiet = previous?.idle === true && idle && Math.abs(used - previous.used) < QUIET_BYTES;
    previous = { used, idle };
    // A heap that shrank by itself (V8 collected) is the new reference.
    if (used < baseline) baseline = used;
    if (!quiet || used - baseline < growth) return;
    const started = performance.now();
    collect();
    collections += 1;
    baseline = heapUsed();
    previous = { used: baseline, idle };
    options.log?.debug(
      { heapBefore: used, heapAfter: baseline, ms: Math.round(performance.now() - started) },
      'idle: memory given back',
    );
  };
  const timer = setInterval(tick, options.intervalMs ?? 2000).unref();
  return {
    get collections() {
      return collections;
    },
    tick,
    stop: () => clearInterval(timer),
  };
}
