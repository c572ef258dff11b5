/**
 * The GC lease: one collector per store at a time, across processes and replicas sharing the store.
 *
 * One document, `gc/lease`, written only with compare-and-swap (`BlobStore.putMetaIf`):
 * `{"holder","expiresAt"}`. A collector takes it when it is absent, released or expired, renews it
 * every quarter of its time to live while it runs, and releases it at the end. A holder that dies
 * stops renewing, and the lease expires after `ttlMs`. A renewal that finds another holder (its
 * lease expired while it was stalled) marks the lease lost, and the collector stops before its next
 * destructive step. Two collectors at once are therefore rare, and harmless: the protocol is safe
 * for any number of them (docs/gc.md); the lease only saves the duplicated work.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BlobStore } from '../storage/blob-store.ts';

const KEY = 'gc/lease';

/** Who holds a lease, as read back. */
export interface LeaseHolder {
  readonly holder: string;
  readonly expiresAt: number;
}

/** A lease this process holds. */
export class GcLease {
  readonly holder: string;
  readonly #store: BlobStore;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #version: string;
  #lost = false;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();

  private constructor(store: BlobStore, holder: string, version: string, ttlMs: number, now: () => number) {
    this.#store = store;
    this.holder = holder;
    this.#version = version;
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#timer = setInterval(
      () => {
        this.#renewing = this.renew().then(
          () => undefined,
          () => undefined,
        );
      },
      Math.max(10, Math.floor(ttlMs / 4)),
    );
    this.#timer.unref();
  }

  /**
   * Takes the lease of `store`, or answers who holds it. `ttlMs`: how long a holder that stopped
   * renewing keeps it (default 60 s).
   */
  static async acquire(
    store: BlobStore,
    options: { ttlMs?: number; now?: () => number; holder?: string } = {},
  ): Promise<GcLease | { heldBy: LeaseHolder }> {
    const ttlMs = options.ttlMs ?? 60_000;
    const now = options.now ?? Date.now;
    const holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await store.getMetaVersioned(KEY);
      const held = current === undefined ? undefined : parseHolder(current.value);
      if (held !== undefined && held.expiresAt > now()) return { heldBy: held };
      const doc = JSON.stringify({ holder, expiresAt: now() + ttlMs });
      if (await store.putMetaIf(KEY, doc, current?.version ?? null)) {
        const mine = await store.getMetaVersioned(KEY);
        if (mine === undefined || parseHolder(mine.value)?.holder !== holder) continue;
        return new GcLease(store, holder, mine.version, ttlMs, now);
      }
    }
    const current = await store.getMetaVersioned(KEY);
    const held = current === undefined ? undefined : parseHolder(current.value);
    return { heldBy: held ?? { holder: 'unknown', expiresAt: now() + ttlMs } };
  }

  /** True once a renewal found another holder: stop before the next destructive step. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Extends the lease by its time to live; false (and {@link lost}) when another holder has it. */
  async renew(): Promise<boolean> {
    if (this.#lost) return false;
    const doc = JSON.stringify({ holder: this.holder, expiresAt: this.#now() + this.#ttlMs });
    if (!(await this.#store.putMetaIf(KEY, doc, this.#version))) {
      this.#lost = true;
      return false;
    }
    const mine = await this.#store.getMetaVersioned(KEY);
    if (mine === undefined || parseHolder(mine.value)?.holder !== this.holder) {
      this.#lost = true;
      return false;
    }
    this.#version = mine.version;
    return true;
  }

  /** Stops renewing and hands the lease back (expired at once), unless it was lost. */
  async release(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#renewing;
    if (this.#lost) return;
    await this.#store.putMetaIf(KEY, JSON.stringify({ holder: this.holder, expiresAt: 0 }), this.#version);
  }
}

function parseHolder(value: Buffer): LeaseHolder | undefined {
  try {
    const doc = JSON.parse(value.toString('utf8')) as Partial<LeaseHolder>;
    return typeof doc.holder === 'string' && typeof doc.expiresAt === 'number'
      ? { holder: doc.holder, expiresAt: doc.expiresAt }
      : undefined;
  } catch {
    return undefined;
  }
}
