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
 * request has been in flight at two looks in a row and the heap has not moved between them
 * (nothing else runs either), it runs one full collection (10–30 ms of an idle event loop) if
 *
 * - the heap holds `growthBytes` more than after the last collection: garbage to sweep; or
 * - V8 commits beyond what the heap uses at least `slackBytes` and half the used size: a young
 *   generation grown to its largest (32 MiB) and half-empty old pages, which make most of a
 *   burst's resident memory. V8 gives them back at a full collection only once its measured
 *   allocation rate has fallen, so these collections are spaced 6 s apart, three at most per
 *   quiet spell. (A large live heap keeps the headroom V8 gives it.)
 *
 * Measured after a burst of manifest GETs: heap 78 MiB committed, 30 used, RSS 137 MiB; the first
 * collection (4 s after the burst) left 61 committed and RSS 120 MiB, the next (6 s later) 25
 * committed and RSS 84 MiB, as on a fresh server. A busy server is never collected by it. (V8's
 * `gc` is called without options: given any, the one in Node 20 collects nothing; measured.)
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

/** What the reducer reads of the heap, in bytes. */
export interface HeapFigures {
  /** In use by objects, live or not yet collected. */
  readonly used: number;
  /** Committed by V8 for the heap (its spaces' pages, the young generation at its present size). */
  readonly committed: number;
}

export interface MemoryReducerOptions {
  /** Requests being served now. */
  readonly inFlight: () => number;
  /** How often the heap is looked at (default 2 s). */
  readonly intervalMs?: number;
  /** Growth since the last collection that an idle server gives back (default 16 MiB). */
  readonly growthBytes?: number;
  /**
   * Committed heap beyond what is used that an idle server gives back (default 16 MiB), and at
   * least half of what is used: a large live heap keeps the headroom V8 gives it.
   */
  readonly slackBytes?: number;
  /** The heap's figures (default V8's); for tests. */
  readonly heap?: () => HeapFigures;
  /** The collection (default V8's full collection); for tests. */
  readonly collect?: () => void;
  /** Clock in milliseconds (default `performance.now`); for tests. */
  readonly now?: () => number;
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

/**
 * Collections for slack alone in one quiet spell, and the least time between two: V8 shrinks its
 * young generation at a full collection only when the allocation rate it measured over the last
 * 5 s is low, so a collection right after a burst keeps it at its largest (32 MiB committed), and
 * one 6 s after the previous does not (measured: 32 → 1 MiB). Bounded, since V8 may keep what it
 * judges needed through any number of them.
 */
const MAX_SLACK_COLLECTIONS = 3;
const SLACK_SPACING_MS = 6000;

function v8Heap(): HeapFigures {
  const stats = getHeapStatistics();
  return { used: stats.used_heap_size, committed: stats.total_heap_size };
}

/** Starts the reducer; undefined when V8's collection function cannot be had. */
export function startMemoryReducer(options: MemoryReducerOptions): MemoryReducer | undefined {
  const collect = options.collect ?? exposedGc();
  if (collect === undefined) return undefined;
  const heap = options.heap ?? v8Heap;
  const growth = options.growthBytes ?? 16 * 1024 * 1024;
  const slackLimit = options.slackBytes ?? 16 * 1024 * 1024;
  let baseline = heap().used;
  let previous: { used: number; idle: boolean } | undefined;
  const now = options.now ?? (() => performance.now());
  let collections = 0;
  let lastCollection = Number.NEGATIVE_INFINITY;
  /** Collections for slack since the server was last seen busy (or since the last for growth). */
  let slackCollections = 0;

  const tick = () => {
    const { used, committed } = heap();
    const idle = options.inFlight() === 0;
    const quiet = previous?.idle === true && idle && Math.abs(used - previous.used) < QUIET_BYTES;
    previous = { used, idle };
    // A heap that shrank by itself (V8 collected) is the new reference.
    if (used < baseline) baseline = used;
    if (!quiet) {
      slackCollections = 0;
      return;
    }
    const grown = used - baseline >= growth;
    const slack =
      committed - used >= Math.max(slackLimit, used / 2) &&
      slackCollections < MAX_SLACK_COLLECTIONS &&
      now() - lastCollection >= SLACK_SPACING_MS;
    if (!grown && !slack) return;
    const started = now();
    collect();
    lastCollection = now();
    collections += 1;
    slackCollections = grown ? 0 : slackCollections + 1;
    const after = heap();
    baseline = after.used;
    previous = { used: after.used, idle };
    options.log?.debug(
      {
        heapBefore: used,
        heapAfter: after.used,
        committedBefore: committed,
        committedAfter: after.committed,
        ms: Math.round(lastCollection - started),
      },
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

export interface BatchHeapOptions {
  /** Growth of the heap since the last collection that triggers one (default 32 MiB). */
  readonly growthBytes?: number;
  /** How often the heap is looked at (default 250 ms). */
  readonly intervalMs?: number;
  /** The heap's figures (default V8's); for tests. */
  readonly heap?: () => HeapFigures;
  /** The collection (default V8's full collection); for tests. */
  readonly collect?: () => void;
}

/**
 * The memory reducer of a batch command (`regctl gc`, `regctl usage`), which has no idle moments
 * to wait for: a full collection whenever the heap has grown `growthBytes` since the last one.
 * Without it the old generation filled to V8's limit before its first collection (incremental
 * marking off, see the module comment): a pass over an S3 store of 8 000 blobs peaked at 170 MiB
 * of heap, of which 27 MiB were live. A pass's live data stay small next to what its requests
 * allocate (S3 SDK requests, JSON, listings), so each collection is short.
 */
export function boundBatchHeap(options: BatchHeapOptions = {}): Omit<MemoryReducer, 'collections'> & {
  readonly collections: number;
} {
  const collect = options.collect ?? exposedGc();
  const heap = options.heap ?? v8Heap;
  const growth = options.growthBytes ?? 32 * 1024 * 1024;
  let baseline = heap().used;
  let collections = 0;
  const tick = () => {
    const { used } = heap();
    if (used < baseline) baseline = used; // V8 collected by itself
    if (collect === undefined || used - baseline < growth) return;
    collect();
    collections += 1;
    baseline = heap().used;
  };
  const timer = setInterval(tick, options.intervalMs ?? 250).unref();
  return {
    get collections() {
      return collections;
    },
    tick,
    stop: () => clearInterval(timer),
  };
}
