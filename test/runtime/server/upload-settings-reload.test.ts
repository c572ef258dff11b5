/**
 * A reload that changes a blob store's upload settings takes effect: the store's definition is its
 * resource key, so the next state opens it anew with the new timeout and cap (and counts the
 * sessions already there), while a reload that keeps them keeps the live instance.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan, UploadsPlan } from '../../../compiler/plan.ts';
import { createRuntimeState, type RuntimeState } from '../../../runtime/server/state.ts';
import type { FileBlobStore } from '../../../runtime/storage/drivers/file/file.ts';
import { createBlobStore } from '../../../runtime/storage/index.ts';
import { FakeWorld, makePlan, silentLog } from '../http/fakes.ts';

describe('a reload of upload settings', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('opens the store anew with the new values; unchanged values keep the live store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-upload-reload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const world = new FakeWorld();
    const factories = { ...world.factories, createBlobStore };
    const planWith = (id: string, uploads: UploadsPlan): Plan => {
      const base = makePlan({ id });
      return { ...base, blobStores: { default: { name: 'default', driver: 'file', path: dir, uploads } } };
    };
    const build = async (plan: Plan, previous?: RuntimeState) => {
      const state = await createRuntimeState(plan, { env: {}, log: silentLog, factories, previous });
      cleanups.push(() => state.dispose());
      return { state, store: state.stores.get('default') as FileBlobStore };
    };

    const first = await build(planWith('p1', { timeoutMs: 3_600_000, maxBytes: 1000 }));
    const session = await first.store.createUpload(null);
    await first.store.appendUpload(session.id, 0, Readable.from([Buffer.alloc(600)]));
    expect(first.store.uploadBudget.maxBytes).toBe(1000);

    const second = await build(planWith('p2', { timeoutMs: 600_000, maxBytes: 2000 }), first.state);
    expect(second.store).not.toBe(first.store);
    expect(second.store.uploadBudget.maxBytes).toBe(2000);
    expect(second.store.uploadBudget.inProgressBytes).toBe(600); // counted when it opened
    expect((await second.store.getUpload(session.id))?.offset).toBe(600); // the session goes on

    const third = await build(planWith('p3', { timeoutMs: 600_000, maxBytes: 2000 }), second.state);
    expect(third.store).toBe(second.store);
  });
});
