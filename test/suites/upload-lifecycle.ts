/**
 * The upload-session lifecycle every driver keeps: abandoned sessions (no activity for the
 * store's upload timeout) are deleted by its sweep and unknown afterwards, a session that keeps
 * receiving bytes is never deleted however long it runs, and `maxUploadBytes` caps what the
 * sessions in progress hold (runtime/storage/upload-budget.ts).
 *
 * Usage: `describeUploadLifecycle('file', async (settings) => fixture)`.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../../runtime/storage/blob-store.ts';
import { isStorageError, type StorageError } from '../../runtime/storage/errors.ts';
import type { UploadBudget } from '../../runtime/storage/upload-budget.ts';
import { codeOf, digestOf, readAll } from './blob-store.ts';

/** What a store is opened with for one test. */
export interface UploadSettings {
  readonly uploadTimeoutMs: number;
  readonly maxUploadBytes: number | null;
}

export interface UploadLifecycleFixture {
  readonly store: BlobStore;
  readonly budget: UploadBudget;
  /** Runs the store's sweep as if the time were `now`. */
  sweep(now?: number): Promise<void>;
  /** Closes the store and opens it again on the same place (the memory store cannot). */
  reopen(): Promise<{ store: BlobStore; budget: UploadBudget }>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A body that sends `chunks` pieces of `size` bytes, one every `everyMs`: a slow client. */
export function slowBody(chunks: number, size: number, everyMs: number): { body: Readable; bytes: Buffer } {
  const pieces = Array.from({ length: chunks }, () => randomBytes(size));
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent === chunks) {
        this.push(null);
        return;
      }
      const piece = pieces[sent++] as Buffer;
      setTimeout(() => this.push(piece), everyMs);
    },
  });
  return { body, bytes: Buffer.concat(pieces) };
}

async function refusal(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    if (isStorageError(error)) return error;
    throw error;
  }
  throw new Error('the append was not refused');
}

/** `persistent`: the store's sessions outlive the instance (not the memory store), so `reopen` works. */
export function describeUploadLifecycle(
  name: string,
  open: (settings: UploadSettings) => Promise<UploadLifecycleFixture>,
  { persistent }: { persistent: boolean },
): void {
  describe(`upload lifecycle: ${name}`, () => {
    const withStore = async (
      settings: Partial<UploadSettings>,
      test: (fixture: UploadLifecycleFixture) => Promise<void>,
    ): Promise<void> => {
      const fixture = await open({ uploadTimeoutMs: 3_600_000, maxUploadBytes: null, ...settings });
      try {
        await test(fixture);
      } finally {
        await fixture.store.close();
        await fixture.cleanup();
      }
    };

    it('deletes a session idle for longer than the timeout; it is unknown afterwards and frees its share', () =>
      withStore({ uploadTimeoutMs: 60_000 }, async ({ store, budget, sweep }) => {
        const idle = await store.createUpload(null);
        await store.appendUpload(idle.id, 0, Readable.from([randomBytes(1000)]));
        const small = await store.createUpload(null);
        await store.appendUpload(small.id, 0, Readable.from([randomBytes(10)]));
        expect(budget.inProgressBytes).toBe(1010);
        await sweep(Date.now() + 30_000); // within the timeout: nothing goes
        expect(await store.getUpload(idle.id)).toBeDefined();
        await sweep(Date.now() + 61_000);
        expect(await store.getUpload(idle.id)).toBeUndefined();
        expect(await store.getUpload(small.id)).toBeUndefined(); // idle as long, whatever its size
        expect(await codeOf(store.appendUpload(idle.id, 1000, Readable.from([Buffer.from('late')])))).toBe(
          'STORAGE_UPLOAD_UNKNOWN',
        );
        expect(await codeOf(store.commitUpload(idle.id, digestOf(Buffer.alloc(0))))).toBe('STORAGE_UPLOAD_UNKNOWN');
        expect(budget.inProgressBytes).toBe(0);
      }));

    it('goes by the latest activity, not by the start: a session appended to lately is kept', () =>
      withStore({ uploadTimeoutMs: 1000 }, async ({ store, sweep }) => {
        const first = randomBytes(100);
        const session = await store.createUpload(null);
        await sleep(700);
        await store.appendUpload(session.id, 0, Readable.from([first]));
        await sweep(Date.now() + 500); // 1.2 s after the start, 0.5 s after the append
        expect((await store.getUpload(session.id))?.offset).toBe(100);
        await sweep(Date.now() + 1100);
        expect(await store.getUpload(session.id)).toBeUndefined();
      }));

    it('never deletes a session while an append streams into it, however long it takes', () =>
      withStore({ uploadTimeoutMs: 300 }, async ({ store, sweep }) => {
        const session = await store.createUpload(null);
        const { body, bytes } = slowBody(12, 4096, 100); // 1.2 s, four times the timeout
        const appending = store.appendUpload(session.id, 0, body);
        for (let i = 0; i < 5; i++) {
          await sleep(200);
          await sweep();
        }
        expect((await appending).offset).toBe(bytes.length);
        expect(await store.commitUpload(session.id, digestOf(bytes))).toEqual({
          digest: digestOf(bytes),
          size: bytes.length,
        });
        expect((await readAll(await store.read(digestOf(bytes)))).equals(bytes)).toBe(true);
      }));

    it('refuses an append that would pass maxUploadBytes, keeps none of it, and names the store and the figures', () =>
      withStore({ maxUploadBytes: 1000 }, async ({ store, budget }) => {
        const a = await store.createUpload(null);
        await store.appendUpload(a.id, 0, Readable.from([randomBytes(600)]));
        const head = randomBytes(100);
        const b = await store.createUpload(null);
        await store.appendUpload(b.id, 0, Readable.from([head]));
        expect(budget.inProgressBytes).toBe(700);

        const refused = await refusal(
          store.appendUpload(b.id, 100, Readable.from([randomBytes(200), randomBytes(200)])),
        );
        expect(refused.code).toBe('STORAGE_UPLOAD_LIMIT');
        expect(refused.store).toBe(store.name);
        expect(refused.uploads).toEqual({ maxBytes: 1000, inProgressBytes: 700 }); // without its own 200 given back
        expect(refused.message).toContain(`blob store ${store.name}:`);
        expect(refused.message).toMatch(/maxUploadBytes cap of 1000 bytes/);
        expect((await store.getUpload(b.id))?.offset).toBe(100); // at its offset, as before
        expect(budget.inProgressBytes).toBe(700);

        // What fits goes in; once a finishes, its share is free for b.
        const fits = randomBytes(300);
        await store.appendUpload(b.id, 100, Readable.from([fits]));
        expect(await codeOf(store.appendUpload(b.id, 400, Readable.from([randomBytes(1)])))).toBe(
          'STORAGE_UPLOAD_LIMIT',
        );
        await store.cancelUpload(a.id);
        expect(budget.inProgressBytes).toBe(400);
        const tail = randomBytes(600);
        await store.appendUpload(b.id, 400, Readable.from([tail]));
        const whole = Buffer.concat([head, fits, tail]);
        expect(await store.commitUpload(b.id, digestOf(whole))).toEqual({ digest: digestOf(whole), size: 1000 });
        expect((await readAll(await store.read(digestOf(whole)))).equals(whole)).toBe(true);
        expect(budget.inProgressBytes).toBe(0);
      }));

    it('frees the share of sessions the sweep deletes', () =>
      withStore({ maxUploadBytes: 1000, uploadTimeoutMs: 60_000 }, async ({ store, sweep }) => {
        const abandoned = await store.createUpload(null);
        await store.appendUpload(abandoned.id, 0, Readable.from([randomBytes(900)]));
        const next = await store.createUpload(null);
        expect(await codeOf(store.appendUpload(next.id, 0, Readable.from([randomBytes(500)])))).toBe(
          'STORAGE_UPLOAD_LIMIT',
        );
        await sweep(Date.now() + 61_000);
        const later = await store.createUpload(null);
        expect((await store.appendUpload(later.id, 0, Readable.from([randomBytes(500)]))).offset).toBe(500);
      }));

    if (!persistent) return;
    it('counts the sessions already in the store when it opens again', async () => {
      const fixture = await open({ uploadTimeoutMs: 3_600_000, maxUploadBytes: 1000 });
      const a = await fixture.store.createUpload(null);
      await fixture.store.appendUpload(a.id, 0, Readable.from([randomBytes(700)]));
      const reopened = await fixture.reopen();
      try {
        expect(reopened.budget.inProgressBytes).toBe(700);
        const b = await reopened.store.createUpload(null);
        expect(await codeOf(reopened.store.appendUpload(b.id, 0, Readable.from([randomBytes(400)])))).toBe(
          'STORAGE_UPLOAD_LIMIT',
        );
        await reopened.store.commitUpload(a.id, digestOf(Buffer.alloc(0))).catch(() => undefined); // a mismatch: discarded
        expect(reopened.budget.inProgressBytes).toBe(0);
        expect((await reopened.store.appendUpload(b.id, 0, Readable.from([randomBytes(400)]))).offset).toBe(400);
      } finally {
        await reopened.store.close();
        await fixture.cleanup();
      }
    });
  });
}
