/**
 * `Repository.stored`, what the web UI browses: what hosted, proxy and group repositories hold,
 * read without recording a pull and without asking a proxy's upstream.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostedRepositoryPlan } from '../../../compiler/plan.ts';
import { createHostedRepository } from '../../../runtime/repositories/hosted/hosted.ts';
import { hostedKeys } from '../../../runtime/repositories/hosted/metadata.ts';
import { groupStoredContent } from '../../../runtime/repositories/stored-content.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { type CountingUpstream, startCountingUpstream } from '../../helpers/counting-upstream.ts';
import { proxyPlan, TestProxies, testLog } from '../../helpers/proxy-setup.ts';
import { pushBlob, pushImage } from '../../suites/repository.ts';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

function hostedPlan(name: string): HostedRepositoryPlan {
  return {
    name,
    type: 'hosted',
    online: true,
    blobStore: 'default',
    access: { anonymous: [] },
    deploymentPolicy: 'allowRedeploy',
  };
}

describe('hosted stored content', () => {
  it('lists tags, resolves them, reads manifests with their push time and configs, and records no pull', async () => {
    const store = createMemoryBlobStore();
    let now = 1_700_000_000_000;
    const repository = createHostedRepository(hostedPlan('apps'), { store, log, now: () => now });
    const pushed = await pushImage(repository, 'web', 'v2');
    await pushImage(repository, 'web', 'v1');
    const stored = repository.stored;
    expect(await stored.listTags('web')).toEqual(['v1', 'v2']);
    expect(await stored.listTags('nothing')).toEqual([]);
    expect(await stored.resolveTag('web', 'v2')).toBe(pushed.digest);
    expect(await stored.resolveTag('web', 'no/such tag')).toBeUndefined();
    const manifest = await stored.readManifest('web', pushed.digest);
    expect(manifest?.body.equals(pushed.body)).toBe(true);
    expect(manifest?.storedAt).toBe(now);
    expect(manifest?.pulledAt).toBeUndefined();
    const config = JSON.parse(manifest!.body.toString()).config.digest as string;
    expect(JSON.parse((await stored.readConfig('web', config))!.toString()).architecture).toBe('amd64');
    // A blob of another image is not this image's.
    const other = await pushBlob(repository, 'other', 'only in other');
    expect(await stored.readConfig('web', other)).toBeUndefined();
    expect(await stored.readManifest('web', other)).toBeUndefined();

    await repository.close(); // writes pending pull times: browsing left none
    const pulledKey = hostedKeys('apps').pulled('web', pushed.digest);
    expect(await store.getMeta(pulledKey)).toBeUndefined();
    // A real pull does record one, and the stored view shows it.
    now += 1000;
    await repository.getManifest('web', 'v2');
    // Noted in memory, not written yet: the stored view already shows it.
    expect(await store.getMeta(pulledKey)).toBeUndefined();
    expect((await stored.readManifest('web', pushed.digest))?.pulledAt).toBe(now);
    await repository.close();
    expect(await store.getMeta(pulledKey)).toBeDefined();
    expect((await stored.readManifest('web', pushed.digest))?.pulledAt).toBe(now);
  });
});

describe('proxy and group stored content', () => {
  let upstream: CountingUpstream;
  const proxies = new TestProxies({ log: testLog(() => undefined) });
  beforeEach(async () => {
    upstream = await startCountingUpstream();
  });
  afterEach(async () => {
    await proxies.closeAll();
    await upstream.stop();
  });

  it('shows what a proxy cached, never asking its upstream', async () => {
    const image = upstream.addImage('team/app', 'v1', [Buffer.from('layer')]);
    upstream.addImage('team/app', 'v2', [Buffer.from('layer two')]);
    const proxy = proxies.create(proxyPlan(upstream.url), { store: createMemoryBlobStore() });
    await proxy.getManifest('team/app', 'v1');
    const before = upstream.requests.length;
    const stored = proxy.stored;
    expect(await stored.listTags('team/app')).toEqual(['v1']); // v2 exists upstream, not in the cache
    expect(await stored.resolveTag('team/app', 'v1')).toBe(image.digest);
    expect(await stored.resolveTag('team/app', 'v2')).toBeUndefined();
    const manifest = await stored.readManifest('team/app', image.digest);
    expect(manifest?.body.equals(image.manifest)).toBe(true);
    expect(typeof manifest?.storedAt).toBe('number');
    expect(await stored.listReferrers('team/app', image.digest)).toEqual([]);
    expect(await stored.listTags('never/seen')).toEqual([]);
    expect(upstream.requests.length).toBe(before);
    expect(proxy.cacheResults.miss).toBe(1);
  });

  it('combines the members of a group: tags of all, manifests from the first that has them', async () => {
    const log2 = log;
    const a = createHostedRepository(hostedPlan('a'), { store: createMemoryBlobStore(), log: log2 });
    const b = createHostedRepository(hostedPlan('b'), { store: createMemoryBlobStore(), log: log2 });
    const inA = await pushImage(a, 'app', 'one');
    const inB = await pushImage(b, 'app', 'two');
    const group = groupStoredContent([a, b]);
    expect(await group.listTags('app')).toEqual(['one', 'two']);
    expect(await group.resolveTag('app', 'two')).toBe(inB.digest);
    expect((await group.readManifest('app', inA.digest))?.digest).toBe(inA.digest);
    expect((await group.readManifest('app', inB.digest))?.digest).toBe(inB.digest);
  });
});
