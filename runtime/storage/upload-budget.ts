/**
 * The bytes a store's upload sessions hold, and the cap on them (`maxUploadBytes`).
 *
 * One `UploadBudget` per store instance, shared by every append on it. It knows each session's
 * recorded size (set when this instance creates, appends to, commits or cancels a session, and
 * replaced by what the store's periodic scan found), plus the bytes of appends in flight, which
 * reserve their share chunk by chunk as it arrives. An append whose next chunk would take the
 * total past the cap is refused with `STORAGE_UPLOAD_LIMIT`; the driver then drops what that
 * append wrote, so the session stays at its offset and the client can resume later.
 *
 * Exact for one process on its store. Where several processes share a store (replicas on one
 * bucket, two instances on one folder across a reload), each counts the others' sessions as of
 * its latest scan: the cap may then be passed by what the others received since, at most.
 *
 * A scan does not lose what happened while it ran: a session this instance recorded or forgot
 * after the scan started keeps this instance's figure; only older entries take the scan's.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError } from './errors.ts';

interface Entry {
  readonly bytes: number;
  /** The scan generation when this instance last recorded it. */
  readonly generation: number;
}

/** See the module comment. */
export class UploadBudget {
  readonly #store: string;
  readonly #maxBytes: number | null;
  readonly #sessions = new Map<string, Entry>();
  /** Sessions forgotten by this instance, with the generation then, until a later scan is applied. */
  readonly #forgotten = new Map<string, number>();
  #recorded = 0;
  #reserved = 0;
  #generation = 0;

  /** `store` is the plan's name, for the refusal's message; `maxBytes` null = no cap. */
  constructor(store: string, maxBytes: number | null) {
    this.#store = store;
    this.#maxBytes = maxBytes;
  }

  /** The cap, or null. */
  get maxBytes(): number | null {
    return this.#maxBytes;
  }

  /** Bytes recorded by the sessions known plus those of appends in flight. */
  get inProgressBytes(): number {
    return this.#recorded + this.#reserved;
  }

  /** How many sessions are known. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** A session's recorded size: 0 when created, its new offset after an append. */
  record(id: string, bytes: number): void {
    this.#set(id, { bytes, generation: this.#generation });
    this.#forgotten.delete(id);
  }

  /** The session is gone (committed, cancelled, swept): its share is free. */
  forget(id: string): void {
    this.#set(id, undefined);
    this.#forgotten.set(id, this.#generation);
  }

  /** Call before a scan lists the sessions; pass the result to {@link applyScan}. Scans never overlap. */
  scanStarted(): number {
    return ++this.#generation;
  }

  /** Replaces what this instance has not touched since `generation` began with what the scan found. */
  applyScan(generation: number, found: ReadonlyMap<string, number>): void {
    for (const [id, entry] of this.#sessions) {
      if (entry.generation < generation && !found.has(id)) this.#set(id, undefined);
    }
    for (const [id, bytes] of found) {
      if ((this.#sessions.get(id)?.generation ?? -1) >= generation) continue;
      if ((this.#forgotten.get(id) ?? -1) >= generation) continue;
      this.#set(id, { bytes, generation: generation - 1 });
    }
    for (const [id, at] of this.#forgotten) if (at < generation) this.#forgotten.delete(id);
  }

  /** Starts metering one append; call `release()` on the result once its outcome is recorded. */
  reserve(): UploadReservation {
    return new UploadReservation(this);
  }

  /**
   * Takes `bytes` for a reservation that holds `own` already, or throws `STORAGE_UPLOAD_LIMIT`
   * without taking any; the refusal's total leaves out `own`, which the refused append gives back.
   */
  take(bytes: number, own = 0): void {
    if (this.#maxBytes !== null && this.inProgressBytes + bytes > this.#maxBytes) {
      const total = this.inProgressBytes - own;
      throw new StorageError(
        'STORAGE_UPLOAD_LIMIT',
        `blob store ${this.#store}: uploads in progress hold ${formatBytes(total)} of its maxUploadBytes cap of ${formatBytes(this.#maxBytes)}, and this append would pass it; nothing of it was kept (the upload stays at its offset): retry once other uploads have finished, or been deleted after the store's uploadTimeout`,
        { store: this.#store, uploads: { maxBytes: this.#maxBytes, inProgressBytes: total } },
      );
    }
    this.#reserved += bytes;
  }

  /** Gives back bytes a reservation took. */
  give(bytes: number): void {
    this.#reserved -= bytes;
  }

  #set(id: string, entry: Entry | undefined): void {
    this.#recorded -= this.#sessions.get(id)?.bytes ?? 0;
    if (entry === undefined) {
      this.#sessions.delete(id);
    } else {
      this.#sessions.set(id, entry);
      this.#recorded += entry.bytes;
    }
  }
}

/** The bytes one append has taken from its store's budget so far. */
export class UploadReservation {
  readonly #budget: UploadBudget;
  #taken = 0;

  constructor(budget: UploadBudget) {
    this.#budget = budget;
  }

  /** Takes `bytes` more, or throws `STORAGE_UPLOAD_LIMIT` (see {@link UploadBudget.take}). */
  take(bytes: number): void {
    this.#budget.take(bytes, this.#taken);
    this.#taken += bytes;
  }

  /** Gives everything back; idempotent. Record the session's new size first. */
  release(): void {
    this.#budget.give(this.#taken);
    this.#taken = 0;
  }

  /**
   * A pass-through stage that takes each chunk before handing it on, and fails with
   * `STORAGE_UPLOAD_LIMIT` instead of passing a chunk that does not fit.
   */
  meter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        try {
          this.take(chunk.length);
        } catch (error) {
          callback(error as Error);
          return;
        }
        callback(null, chunk);
      },
    });
  }
}

/**
 * How often a store sweeps for abandoned uploads: a quarter of the timeout (so one is deleted
 * at most a quarter late), at most every 5 minutes, and not more often than 10 times a second.
 */
export function uploadSweepPeriodMs(timeoutMs: number): number {
  return Math.max(100, Math.min(Math.floor(timeoutMs / 4), 5 * 60_000));
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `1.5 GiB (1610612736 bytes)`: readable, and exact. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 'B';
  for (const next of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  const shown = unit === 'B' ? String(value) : value.toFixed(value < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return unit === 'B' ? `${bytes} bytes` : `${shown} ${unit} (${bytes} bytes)`;
}
