import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isWritable } from '../../../../runtime/repositories/repository.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { type CountingUpstream, sha256, startCountingUpstream } from '../../../helpers/counting-upstream.ts';
import {
  readBlob as bytes,
  type ProxyPlanOverrides,
  proxyPlan,
  TestProxies,
  testLog,
} from '../../../helpers/proxy-setup.ts';

const warnings: string[] = [];
const log = testLog((message) => warnings.push(message));

let upstream: CountingUpstream;
let now: number;
const proxies = new TestProxies({ log, now: () => now });
function make(extra: ProxyPlanOverrides = {}, store = createMemoryBlobStore()) {
  return { repo: proxies.create(proxyPlan(upstream.url, extra), { store }), store };
}

beforeEach(async () => {
  upstream = await startCountingUpstream();
  now = 1_000_000;
  warnings.length = 0;
});
afterEach(async () => {
  await proxies.closeAll();
  await upstream.stop();
});

describe('ProxyRepository', () => {
  it('pulls through once, then serves manifest and blobs from the cache', async () => {
    const layer = randomBytes(300_000);
    const image = upstream.addImage('team/app', 'v1', [layer]);
    const { repo } = make();
    const manifest = await repo.getManifest('team/app', 'v1');
    expect(manifest.digest).toBe(image.digest);
    expect(manifest.body.equals(image.manifest)).toBe(true);
    expect(await bytes(await repo.getBlob('team/app', image.layers[0]!))).toEqual(layer);
    // second round: nothing goes upstream
    const before = upstream.requests.length;
    expect((await repo.getManifest('team/app', 'v1')).digest).toBe(image.digest);
    expect((await repo.getManifest('team/app', image.digest)).digest).toBe(image.digest);
    expect(await bytes(await repo.getBlob('team/app', image.layers[0]!))).toEqual(layer);
    expect(await repo.statBlob('team/app', image.layers[0]!)).toEqual({ digest: image.layers[0], size: layer.length });
    expect(upstream.requests.length).toBe(before);
    expect(upstream.count('GET', '/blobs/')).toBe(1);
    expect(await repo.listImages()).toEqual(['team/app']);
  });

  it('serves a warm blob with no stat (size cached), and fetches again a blob removed behind its back', async () => {
    const layer = randomBytes(200_000);
    const image = upstream.addImage('app', 'v1', [layer]);
    const memory = createMemoryBlobStore();
    const stat = vi.fn(memory.stat.bind(memory));
    const store = new Proxy(memory, {
      get(target, key) {
        if (key === 'stat') return stat;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { repo } = make({}, store);
    expect(await bytes(await repo.getBlob('app', image.layers[0]!))).toEqual(layer);
    stat.mockClear();
    expect(await bytes(await repo.getBlob('app', image.layers[0]!))).toEqual(layer);
    expect(await repo.statBlob('app', image.layers[0]!)).toEqual({ digest: image.layers[0], size: layer.length });
    expect(stat).not.toHaveBeenCalled();
    expect(upstream.count('GET', '/blobs/')).toBe(1);
    // The bytes vanish (another replica's clean-up, an operator): the cached size must not make it a 404.
    await memory.delete(image.layers[0]!);
    expect(await bytes(await repo.getBlob('app', image.layers[0]!))).toEqual(layer);
    expect(upstream.count('GET', '/blobs/')).toBe(2);
    expect(await memory.stat(image.layers[0]!)).toEqual({ digest: image.layers[0], size: layer.length });
  });

  it('revalidates a tag with a HEAD only after metadataMaxAge, and re-downloads only when it moved', async () => {
    const first = upstream.addImage('app', 'latest', [Buffer.from('one')]);
    const { repo } = make();
    await repo.getManifest('app', 'latest');
    now += 30_000;
    await repo.getManifest('app', 'latest');
    expect(upstream.count('HEAD', '/manifests/latest')).toBe(0);
    now += 31_000;
    expect((await repo.getManifest('app', 'latest')).digest).toBe(first.digest);
    expect(upstream.count('HEAD', '/manifests/latest')).toBe(1);
    expect(upstream.count('GET', '/manifests/latest')).toBe(1);
    const second = upstream.addImage('app', 'latest', [Buffer.from('two')]);
    now += 61_000;
    expect((await repo.getManifest('app', 'latest')).digest).toBe(second.digest);
    expect(upstream.count('HEAD', '/manifests/latest')).toBe(2);
    expect(upstream.count('GET', '/manifests/latest')).toBe(2);
  });

  it('remembers upstream misses for negativeCacheTtl', async () => {
    upstream.addImage('app', 'v1', [Buffer.from('x')]);
    const { repo } = make();
    await expect(repo.getManifest('app', 'nope')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(repo.getManifest('app', 'nope')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    const missing = sha256('missing');
    await expect(repo.getBlob('app', missing)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await expect(repo.statBlob('app', missing)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(upstream.count('GET', '/manifests/nope')).toBe(1);
    expect(upstream.count('GET', `/blobs/${missing}`) + upstream.count('HEAD', `/blobs/${missing}`)).toBe(1);
    now += 61_000;
    await expect(repo.getManifest('app', 'nope')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(upstream.count('GET', '/manifests/nope')).toBe(2);
  });

  it('serves the cached copy (stale, with a warning) when the upstream is down; 503 when nothing is cached', async () => {
    const image = upstream.addImage('app', 'v1', [Buffer.from('layer')]);
    const { repo } = make();
    await repo.getManifest('app', 'v1');
    await bytes(await repo.getBlob('app', image.layers[0]!));
    await upstream.stop();
    now += 120_000;
    expect((await repo.getManifest('app', 'v1')).digest).toBe(image.digest);
    expect(warnings.some((w) => w.includes('stale'))).toBe(true);
    expect((await bytes(await repo.getBlob('app', image.layers[0]!))).toString()).toBe('layer');
    const error = await repo.getManifest('app', 'v2').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect((error as Error).message).toContain('upstream');
    upstream = await startCountingUpstream(); // for afterEach
  });

  it('answers TOOMANYREQUESTS with Retry-After when rate-limited and nothing is cached, stale otherwise', async () => {
    const image = upstream.addImage('app', 'v1', [Buffer.from('layer')]);
    const { repo } = make();
    await repo.getManifest('app', 'v1');
    upstream.faults.rateLimit = '17';
    now += 120_000;
    expect((await repo.getManifest('app', 'v1')).digest).toBe(image.digest);
    const error = await repo.getManifest('app', 'other').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TOOMANYREQUESTS', status: 429, headers: { 'Retry-After': '17' } });
  });

  it('never caches a body that does not match its digest, and aborts the client stream', async () => {
    const layer = randomBytes(200_000);
    const image = upstream.addImage('app', 'v1', [layer]);
    upstream.faults.corrupt.add(image.layers[0]!);
    const { repo, store } = make();
    const response = await repo.getBlob('app', image.layers[0]!);
    await expect(bytes(response)).rejects.toThrow(/hashes to/);
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.stat(image.layers[0]!)).toBeUndefined();
    upstream.faults.corrupt.clear();
    expect(await bytes(await repo.getBlob('app', image.layers[0]!))).toEqual(layer);
    expect(await store.stat(image.layers[0]!)).toBeDefined();
  });

  it('errors the client when the upstream keeps dying mid-blob (resumes used up), caches nothing, and the next pull works', async () => {
    const layer = randomBytes(1_000_000);
    const image = upstream.addImage('app', 'v1', [layer]);
    upstream.faults.cutAfter.set(image.layers[0]!, 300_000);
    const { repo, store } = make();
    const response = await repo.getBlob('app', image.layers[0]!);
    await expect(bytes(response)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.stat(image.layers[0]!)).toBeUndefined();
    upstream.faults.cutAfter.clear();
    expect(await bytes(await repo.getBlob('app', image.layers[0]!))).toEqual(layer);
  });

  it('coalesces 16 concurrent cold pulls of a blob into one upstream GET', async () => {
    const layer = randomBytes(2_000_000);
    const image = upstream.addImage('app', 'v1', [layer]);
    upstream.faults.chunkDelayMs = 2;
    const { repo } = make();
    const bodies = await Promise.all(
      Array.from({ length: 16 }, async () => bytes(await repo.getBlob('app', image.layers[0]!))),
    );
    for (const body of bodies) expect(body.equals(layer)).toBe(true);
    expect(upstream.count('GET', `/blobs/${image.layers[0]}`)).toBe(1);
  });

  it('coalesces concurrent manifest fetches', async () => {
    upstream.addImage('app', 'v1', [Buffer.from('x')]);
    upstream.faults.responseDelayMs = 30;
    const { repo } = make();
    await Promise.all(Array.from({ length: 8 }, () => repo.getManifest('app', 'v1')));
    expect(upstream.count('GET', '/manifests/v1')).toBe(1);
  });

  it('answers a HEAD of an uncached blob from an upstream HEAD, and serves ranges', async () => {
    const layer = Buffer.from('0123456789abcdef');
    const image = upstream.addImage('app', 'v1', [layer]);
    const { repo } = make();
    expect(await repo.statBlob('app', image.layers[0]!)).toEqual({ digest: image.layers[0], size: 16 });
    expect(upstream.count('GET', '/blobs/')).toBe(0);
    const range = await repo.getBlob('app', image.layers[0]!, { start: 4, end: 7 });
    expect((await bytes(range)).toString()).toBe('4567');
    expect((await bytes(await repo.getBlob('app', image.layers[0]!, { start: 10, end: 15 }))).toString()).toBe(
      'abcdef',
    );
    expect(upstream.count('GET', '/blobs/')).toBe(1);
  });

  it('maps single-segment names to library/ for Docker Hub and caches them under that name', async () => {
    const image = upstream.addImage('library/alpine', '3', [Buffer.from('a')]);
    const { repo } = make({ remote: { url: upstream.url, index: 'docker-hub', auth: null, timeoutMs: 2000 } });
    expect((await repo.getManifest('alpine', '3')).digest).toBe(image.digest);
    expect((await repo.getManifest('library/alpine', '3')).digest).toBe(image.digest);
    expect(upstream.count('GET', '/v2/library/alpine/manifests/3')).toBe(1);
    expect(await repo.listImages()).toEqual(['library/alpine']);
    expect(await repo.listTags('alpine')).toEqual(['3']);
  });

  it("a request joining another image's fetch of the same blob is served only if the upstream has it for its image", async () => {
    const layer = randomBytes(200_000);
    const image = upstream.addImage('team/a', 'v1', [layer]);
    upstream.addImage('team/b', 'v1', [Buffer.from('other')]);
    upstream.faults.responseDelayMs = 50;
    const { repo } = make();
    const [a, b] = await Promise.allSettled([
      repo.getBlob('team/a', image.layers[0]!).then(bytes),
      repo.getBlob('team/b', image.layers[0]!).then(bytes),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled', value: layer });
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'BLOB_UNKNOWN' } });
    expect(upstream.count('GET', `/blobs/${image.layers[0]}`)).toBe(1);
    await expect(repo.statBlob('team/b', image.layers[0]!)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  it('treats a torn or foreign cached tag or manifest link as not cached', async () => {
    const image = upstream.addImage('app', 'v1', [Buffer.from('a')]);
    const store = createMemoryBlobStore();
    await store.putMeta('proxy/upstream/images/app/_tags/v1', '{}');
    await store.putMeta(`proxy/upstream/images/app/_manifests/${image.digest.replace(':', '/')}`, 'null');
    const { repo } = make({}, store);
    expect((await repo.getManifest('app', image.digest)).digest).toBe(image.digest);
    expect((await repo.getManifest('app', 'v1')).digest).toBe(image.digest);
  });

  it('offline serves only the cache', async () => {
    const image = upstream.addImage('app', 'v1', [Buffer.from('a')]);
    const store = createMemoryBlobStore();
    const { repo: online } = make({}, store);
    await online.getManifest('app', 'v1');
    const { repo: offline } = make({ offline: true }, store);
    const before = upstream.requests.length;
    now += 10 * 60_000;
    expect((await offline.getManifest('app', 'v1')).digest).toBe(image.digest);
    await expect(offline.getManifest('app', 'v2')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(offline.getBlob('app', image.layers[0]!)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(upstream.requests.length).toBe(before);
  });

  it('is read-only: no write methods, so the HTTP layer refuses pushes (test/runtime/http/read-only.test.ts)', async () => {
    const { repo } = make();
    expect(isWritable(repo)).toBe(false);
    for (const method of ['putManifest', 'deleteManifest', 'deleteBlob', 'startUpload', 'completeUpload']) {
      expect(method in repo, method).toBe(false);
    }
    expect(upstream.requests).toEqual([]);
  });

  it('uses upstream Basic credentials from the environment', async () => {
    await upstream.stop();
    upstream = await startCountingUpstream({ basic: { username: 'u', password: 's3cret' } });
    const image = upstream.addImage('app', 'v1', [Buffer.from('a')]);
    const repo = proxies.create(
      proxyPlan(upstream.url, { remote: { auth: { username: 'u', password: { env: 'UP_PW' } } } }),
      { env: { UP_PW: 's3cret' } },
    );
    expect((await repo.getManifest('app', 'v1')).digest).toBe(image.digest);
  });
});
