import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { HostedRepositoryPlan } from '../../../compiler/plan.ts';
import { measureUsage } from '../../../runtime/gc/usage.ts';
import { createHostedRepository } from '../../../runtime/repositories/hosted/hosted.ts';
import { ProxyCache } from '../../../runtime/repositories/proxy/cache-records.ts';
import type { BlobStore } from '../../../runtime/storage/blob-store.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { hostedPlan } from '../../helpers/hosted-plan.ts';
import { pushBlob, pushImage, sha256 } from '../../suites/repository.ts';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

function hosted(store: BlobStore, name: string, extra: Partial<HostedRepositoryPlan> = {}) {
  return createHostedRepository(hostedPlan({ name, ...extra }), { store, log });
}

describe('usage', () => {
  it('counts a blob once per store and once per repository, biggest repository first', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const big = hosted(store, 'big');
    const small = hosted(store, 'small');
    const a = await pushImage(big, 'one', 'v1', ['x'.repeat(1000), 'shared'.repeat(100)]);
    const b = await pushImage(big, 'two', 'v1', ['shared'.repeat(100)]);
    const c = await pushImage(small, 'three', 'v1', ['shared'.repeat(100)]);
    const cached = Buffer.alloc(300, 1);
    await store.putBlob(sha256(cached), Readable.from([cached]));
    await new ProxyCache(store, 'hub').linkBlob('library/alpine', sha256(cached));
    const usage = await measureUsage(store);
    const config = (body: Buffer) => Number(JSON.parse(body.toString()).config.size);
    const configs = new Set([a, b, c].map((m) => JSON.parse(m.body.toString()).config.digest));
    expect(configs.size).toBe(3);
    expect(usage.repositories.map((r) => r.repository)).toEqual(['big', 'small', 'hub']);
    expect(usage.repositories[0]).toMatchObject({
      kind: 'hosted',
      images: 2,
      blobs: 6, // 2 configs, x, shared, 2 manifests
      bytes: config(a.body) + config(b.body) + 1000 + 600 + a.body.length + b.body.length,
    });
    expect(usage.repositories[2]).toMatchObject({ kind: 'proxy', blobs: 1, bytes: 300 });
    expect(usage.blobs).toBe(3 + 3 + 2 + 1); // configs, manifests, x + shared, cached
  });
});

describe('quota', () => {
  it('refuses a push over the quota with DENIED naming the repository, quota and usage', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const repo = hosted(store, 'team', { quotaBytes: 2000 });
    await pushImage(repo, 'app', 'v1', ['a'.repeat(1200)]);
    await expect(pushBlob(repo, 'app', 'b'.repeat(1200))).rejects.toMatchObject({
      code: 'DENIED',
      message: expect.stringMatching(
        /^repository team is over its quota: 2\.0 KiB allowed, 1\.\d KiB used, and this blob of 1\.2 KiB/,
      ),
    });
    // nothing of the refused upload was kept
    expect(await store.stat(sha256('b'.repeat(1200)))).toBeUndefined();
    // a blob the repository already holds costs nothing, even in another image
    await expect(pushBlob(repo, 'other', 'a'.repeat(1200))).resolves.toBe(sha256('a'.repeat(1200)));
  });

  it('a delete plus garbage collection frees the quota', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    let now = Date.now();
    const repo = createHostedRepository(hostedPlan({ name: 'team', quotaBytes: 2000 }), { store, log, now: () => now });
    const first = await pushImage(repo, 'app', 'v1', ['a'.repeat(1200)]);
    await repo.deleteManifest('app', first.digest);
    const { collectGarbage } = await import('../../../runtime/gc/collector.ts');
    now += 2 * 3_600_000;
    await collectGarbage(store, { gracePeriodMs: 3_600_000, settleMs: 0, now: () => now });
    now += 60_000; // past the quota's re-measure
    await expect(pushImage(repo, 'app', 'v2', ['b'.repeat(1200)])).resolves.toBeDefined();
  });
});
