/**
 * The prefetch scheduler's contract with reloads and shutdown, over a fake proxy: a run starts at
 * once; a plan change of the repository aborts the run and the next one starts only after it
 * ended (never two at a time); an unrelated plan change keeps the job; a removed repository's job
 * stops; close() ends a run in progress.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan, ProxyRepositoryPlan } from '../../../compiler/plan.ts';
import { PrefetchScheduler } from '../../../runtime/prefetch/scheduler.ts';
import type { Manifest } from '../../../runtime/repositories/repository.ts';
import type { RuntimeState } from '../../../runtime/server/state.ts';
import { waitUntil } from '../../helpers/process.ts';
import { proxyPlan, testLog } from '../../helpers/proxy-setup.ts';

const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);

/** A proxy whose manifest requests wait until released, counting how many run at once. */
class FakeProxy {
  calls: string[] = [];
  active = 0;
  maxActive = 0;
  #release: (() => void)[] = [];
  hold = true;

  async prefetchManifest(image: string, reference: string) {
    this.calls.push(`${image}:${reference}`);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.hold) await new Promise<void>((resolve) => this.#release.push(resolve));
      if (image === 'missing') throw new Error('no such image upstream');
      const manifest: Manifest = {
        digest: `sha256:${'a'.repeat(64)}`,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: MANIFEST.length,
        body: MANIFEST,
      };
      return { manifest, result: 'miss' as const };
    } finally {
      this.active--;
    }
  }
  async hasCachedBlob() {
    return true;
  }
  async getBlob(): Promise<never> {
    throw new Error('not asked');
  }
  releaseAll() {
    for (const release of this.#release.splice(0)) release();
  }
}

function planWith(repositories: ProxyRepositoryPlan[], extra = 0): Plan {
  return {
    id: `plan-${Math.random()}`,
    blobStores: { default: { name: 'default', driver: 'memory' } },
    repositories: Object.fromEntries(repositories.map((r) => [r.name, r])),
    listeners: Array.from({ length: extra }, () => ({})),
  } as unknown as Plan;
}

const hub = (images: string[], intervalMs = 3_600_000) =>
  proxyPlan('http://upstream.test', {
    name: 'hub',
    prefetch: { images: images.map((name) => ({ name, reference: '1' })), intervalMs },
  } as never);

let scheduler: PrefetchScheduler | undefined;
const proxies: FakeProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) {
    proxy.hold = false;
    proxy.releaseAll();
  }
  await scheduler?.close();
});

function hostWith(plan: Plan, proxy: FakeProxy) {
  proxies.push(proxy);
  const host = {
    state: { plan, repositories: new Map([['hub', proxy]]) } as unknown as RuntimeState,
    acquire: () => ({ state: host.state, release() {} }),
  };
  return host;
}

describe('PrefetchScheduler', () => {
  it('runs at start, records misses, and keeps the job across an unrelated plan change', async () => {
    const proxy = new FakeProxy();
    proxy.hold = false;
    const host = hostWith(planWith([hub(['app', 'missing'])]), proxy);
    scheduler = new PrefetchScheduler(host, testLog());
    await waitUntil(async () => scheduler?.status('hub')?.lastRun != null, 'first run', { timeoutMs: 5000 });
    const first = scheduler.status('hub')!;
    expect(first.lastRun).toMatchObject({
      images: 2,
      ok: 1,
      misses: [{ image: 'missing:1', reason: 'no such image upstream' }],
    });
    expect(first.nextRunAt).not.toBeNull();
    host.state = { ...host.state, plan: planWith([hub(['app', 'missing'])], 1) } as RuntimeState;
    scheduler.sync();
    await new Promise((resolve) => setImmediate(resolve));
    expect(proxy.calls).toEqual(['app:1', 'missing:1']);
    expect(scheduler.status('hub')).toEqual(first);
  });

  it('aborts a run when the repository changes and starts the next only after it ended', async () => {
    const proxy = new FakeProxy();
    const host = hostWith(planWith([hub(['app', 'other'])]), proxy);
    scheduler = new PrefetchScheduler(host, testLog());
    await waitUntil(async () => proxy.calls.length === 1, 'first request', { timeoutMs: 5000 });
    host.state = { ...host.state, plan: planWith([hub(['app'], 60_000)]) } as RuntimeState;
    scheduler.sync();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(proxy.calls).toHaveLength(1); // the new job waits for the aborted run
    proxy.hold = false;
    proxy.releaseAll();
    await waitUntil(async () => scheduler?.status('hub')?.lastRun?.images === 1, 'the new job ran', {
      timeoutMs: 5000,
    });
    // The aborted run did not go on to its second image; never two requests at once.
    expect(proxy.calls).toEqual(['app:1', 'app:1']);
    expect(proxy.maxActive).toBe(1);
    expect(scheduler.status('hub')).toMatchObject({ intervalMs: 60_000, running: false });
  });

  it('stops the job of a removed repository, and close() ends a run in progress', async () => {
    const proxy = new FakeProxy();
    const host = hostWith(planWith([hub(['app'])]), proxy);
    scheduler = new PrefetchScheduler(host, testLog());
    await waitUntil(async () => proxy.calls.length === 1, 'first request', { timeoutMs: 5000 });
    host.state = { ...host.state, plan: planWith([]) } as RuntimeState;
    scheduler.sync();
    expect(scheduler.status('hub')).toBeUndefined();
    host.state = { ...host.state, plan: planWith([hub(['app'])]) } as RuntimeState;
    scheduler.sync();
    const closed = scheduler.close();
    proxy.releaseAll();
    await closed;
    expect(proxy.maxActive).toBe(1);
    scheduler = undefined;
  });
});
