/**
 * A proxy repository's upstream as a leased resource (runtime/server/state.ts): instances of successive
 * states share it while the remote is unchanged, and it closes only with the last state leasing
 * it. Real `UpstreamClient`s (real undici pools) against a small upstream on loopback: the bug this
 * guards against was a pool closed under a newer state, which a `MockAgent` cannot show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyRepository } from '../../../../runtime/repositories/proxy/proxy.ts';
import { ResourcePool } from '../../../../runtime/resources.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { type CountingUpstream, startCountingUpstream } from '../../../helpers/counting-upstream.ts';
import { proxyPlan, readBlob, testLog } from '../../../helpers/proxy-setup.ts';

let upstream: CountingUpstream;
let digests: string[];

beforeAll(async () => {
  upstream = await startCountingUpstream();
  const layers = ['layer one', 'layer two', 'layer three', 'layer four'].map((text) => Buffer.from(text));
  digests = upstream.addImage('team/app', 'v1', layers).layers;
});

afterAll(async () => {
  await upstream?.stop();
});

describe('proxy upstream leases', () => {
  it('a new state leases the upstream of the old one; disposing the old state leaves it open', async () => {
    const pool = new ResourcePool();
    const store = createMemoryBlobStore();
    const deps = { store, env: {}, log: testLog() };
    const oldScope = pool.scope();
    const old = createProxyRepository(proxyPlan(upstream.url), { ...deps, resources: oldScope });
    expect(await readBlob(await old.getBlob('team/app', digests[0]!))).toEqual(Buffer.from('layer one'));

    const newScope = pool.scope();
    const next = createProxyRepository(proxyPlan(upstream.url, { metadataMaxAgeMs: 1 }), {
      ...deps,
      resources: newScope,
    });
    await old.close();
    await oldScope.release();
    // Uncached: needs the upstream client the old state leased too.
    expect(await readBlob(await next.getBlob('team/app', digests[1]!))).toEqual(Buffer.from('layer two'));
    expect(upstream.count('GET', `/blobs/${digests[1]}`)).toBe(1);

    // The last lease gone, the upstream is closed.
    await newScope.release();
    await expect(next.getBlob('team/app', digests[3]!)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('a changed remote gets its own upstream; the old one closes with the old state', async () => {
    const pool = new ResourcePool();
    const store = createMemoryBlobStore();
    const deps = { store, env: {}, log: testLog() };
    const oldScope = pool.scope();
    const old = createProxyRepository(proxyPlan(upstream.url), { ...deps, resources: oldScope });
    const newScope = pool.scope();
    const next = createProxyRepository(proxyPlan(upstream.url, { remote: { timeoutMs: 2500 } }), {
      ...deps,
      resources: newScope,
    });
    expect(await readBlob(await old.getBlob('team/app', digests[0]!))).toEqual(Buffer.from('layer one'));
    await oldScope.release();
    // The old instance's upstream is closed: it can no longer fetch.
    await expect(old.getBlob('team/app', digests[2]!)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await readBlob(await next.getBlob('team/app', digests[2]!))).toEqual(Buffer.from('layer three'));
    await newScope.release();
    await expect(next.getBlob('team/app', digests[3]!)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
