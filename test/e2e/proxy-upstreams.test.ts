/**
 * The proxy repository against real upstream registries on loopback: Debian's distribution
 * registry plain, behind `auth.htpasswd`, and behind `auth.token` with the token-server fixture;
 * and through an outbound HTTP forward proxy. The repository runs in-process over an in-memory
 * store, so these tests exercise the upstream client, auth flows and caching without the HTTP
 * runtime; the access log of distribution counts what reached the upstream.
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProxyPlan, ProxyRepositoryPlan } from '../../compiler/plan.ts';
import { createProxyRepository, type ProxyRepository } from '../../runtime/repository/proxy.ts';
import type { BlobResponse } from '../../runtime/repository/repository.ts';
import { createMemoryBlobStore } from '../../runtime/storage/drivers/memory.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type ForwardProxy, startForwardProxy } from '../helpers/forward-proxy.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { TmpDirs } from '../helpers/tmp.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const log = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  trace() {},
  fatal() {},
  child() {
    return log;
  },
} as unknown as FastifyBaseLogger;

const dirs = new TmpDirs();
const repos: ProxyRepository[] = [];
const image = buildImage({ layers: 2, layerSize: 4 * 1024 * 1024, seed: 'proxy-upstreams' });
let plain: Distribution;
let basic: Distribution;
let tokened: Distribution;
let tokens: TokenServer;
let forward: ForwardProxy;

/** Pushes `img` as `name:tag` over the v2 API (monolithic uploads). */
async function push(base: string, name: string, tag: string, img: Image, authorization?: string) {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  for (const blob of [img.config, ...img.layers]) {
    const started = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get('location')!, base);
    location.searchParams.set('digest', blob.digest);
    const done = await fetch(location, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: blob.bytes,
    });
    expect(done.status).toBe(201);
  }
  const put = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': img.mediaType },
    body: img.manifest.bytes,
  });
  expect(put.status).toBe(201);
}

function plan(url: string, extra: Partial<ProxyRepositoryPlan> = {}): ProxyRepositoryPlan {
  return {
    name: 'upstream',
    type: 'proxy',
    online: true,
    blobStore: 'default',
    access: { anonymous: ['pull'] },
    remote: { url, index: 'registry', auth: null, timeoutMs: 10_000 },
    metadataMaxAgeMs: 60_000,
    negativeCacheTtlMs: 60_000,
    offline: false,
    httpProxy: null,
    ...extra,
  };
}

function proxy(p: ProxyRepositoryPlan, env: NodeJS.ProcessEnv = {}) {
  const repo = createProxyRepository(p, { store: createMemoryBlobStore(), env, log });
  repos.push(repo);
  return repo;
}

async function drain(response: BlobResponse): Promise<number> {
  if (!('stream' in response.body)) throw new Error('redirect');
  let size = 0;
  for await (const chunk of response.body.stream as Readable) size += (chunk as Buffer).length;
  return size;
}

async function pullAll(repo: ProxyRepository, name: string, tag: string) {
  const manifest = await repo.getManifest(name, tag);
  expect(manifest.digest).toBe(image.manifest.digest);
  for (const blob of [image.config, ...image.layers])
    expect(await drain(await repo.getBlob(name, blob.digest))).toBe(blob.bytes.length);
}

beforeAll(async () => {
  plain = await startDistribution({ dir: await dirs.make() });
  await push(plain.url, 'team/app', 'v1', image);
  basic = await startDistribution({ dir: await dirs.make(), htpasswd: { puller: 'pull-secret' } });
  await push(basic.url, 'team/app', 'v1', image, `Basic ${Buffer.from('puller:pull-secret').toString('base64')}`);
  tokens = await startTokenServer({ dir: await dirs.make(), users: { robot: 'robot-secret' } });
  tokened = await startDistribution({
    dir: await dirs.make(),
    token: {
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertBundle: tokens.rootCertBundle,
    },
  });
  const tokenResponse = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:team/app:pull,push`, {
    headers: { authorization: `Basic ${Buffer.from('robot:robot-secret').toString('base64')}` },
  });
  const { token } = (await tokenResponse.json()) as { token: string };
  await push(tokened.url, 'team/app', 'v1', image, `Bearer ${token}`);
  tokens.requests.length = 0;
  forward = await startForwardProxy();
}, 60_000);

afterAll(async () => {
  await Promise.all(repos.map((r) => r.close()));
  await Promise.all([plain?.stop(), basic?.stop(), tokened?.stop(), tokens?.stop(), forward?.stop()]);
  await dirs.cleanup();
});

describe('proxy repository ↔ distribution', () => {
  it('pulls through once; the second pull is served from the cache', async () => {
    const repo = proxy(plan(plain.url));
    await pullAll(repo, 'team/app', 'v1');
    const blobGets = plain.countRequests(/^GET \/v2\/team\/app\/blobs\//);
    const manifestGets = plain.countRequests(/^GET \/v2\/team\/app\/manifests\//);
    expect(blobGets).toBe(3);
    await pullAll(repo, 'team/app', 'v1');
    expect(plain.countRequests(/^GET \/v2\/team\/app\/blobs\//)).toBe(blobGets);
    expect(plain.countRequests(/^GET \/v2\/team\/app\/manifests\//)).toBe(manifestGets);
  });

  it('16 concurrent cold pulls of a blob cause exactly one upstream GET', async () => {
    const repo = proxy(plan(plain.url));
    const layer = image.layers[1]!;
    const before = plain.countRequests(new RegExp(`^GET /v2/team/app/blobs/${layer.digest}`));
    const sizes = await Promise.all(
      Array.from({ length: 16 }, async () => drain(await repo.getBlob('team/app', layer.digest))),
    );
    expect(sizes.every((s) => s === layer.bytes.length)).toBe(true);
    expect(plain.countRequests(new RegExp(`^GET /v2/team/app/blobs/${layer.digest}`)) - before).toBe(1);
  });

  it('uses Basic credentials from the environment against an htpasswd upstream', async () => {
    const auth = { username: 'puller', password: { env: 'UPSTREAM_PASSWORD' } };
    const repo = proxy(plan(basic.url, { remote: { url: basic.url, index: 'registry', auth, timeoutMs: 10_000 } }), {
      UPSTREAM_PASSWORD: 'pull-secret',
    });
    await pullAll(repo, 'team/app', 'v1');
    const wrong = proxy(plan(basic.url, { remote: { url: basic.url, index: 'registry', auth, timeoutMs: 10_000 } }), {
      UPSTREAM_PASSWORD: 'wrong',
    });
    await expect(wrong.getManifest('team/app', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('runs the Bearer token flow against an auth.token upstream and reuses the token', async () => {
    const auth = { username: 'robot', password: { env: 'UPSTREAM_PASSWORD' } };
    const repo = proxy(
      plan(tokened.url, { remote: { url: tokened.url, index: 'registry', auth, timeoutMs: 10_000 } }),
      {
        UPSTREAM_PASSWORD: 'robot-secret',
      },
    );
    await pullAll(repo, 'team/app', 'v1');
    expect(tokens.requests.length).toBe(1);
    expect(tokens.requests[0]).toEqual({ scopes: ['repository:team/app:pull'], user: 'robot' });
  });

  it('sends upstream traffic through the outbound HTTP proxy, unless noProxy exempts the host', async () => {
    const httpProxy: HttpProxyPlan = { url: forward.url, auth: null, noProxy: [] };
    const repo = proxy(plan(plain.url, { httpProxy }));
    await pullAll(repo, 'team/app', 'v1');
    expect(forward.requests.some((r) => r.includes(`127.0.0.1:${plain.port}`))).toBe(true);
    const seen = forward.requests.length;
    const direct = proxy(plan(plain.url, { httpProxy: { ...httpProxy, noProxy: ['127.0.0.1'] } }));
    await pullAll(direct, 'team/app', 'v1');
    expect(forward.requests.length).toBe(seen);
  });
});
