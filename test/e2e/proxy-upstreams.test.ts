/**
 * The proxy repository against real upstream registries on loopback: Debian's distribution
 * registry plain, behind `auth.htpasswd`, and behind `auth.token` with the token-server fixture;
 * and through an outbound HTTP forward proxy. The repository runs in-process over an in-memory
 * store, so these tests exercise the upstream client, auth flows and caching without the HTTP
 * runtime; the access log of distribution counts what reached the upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProxyPlan, ProxyRepositoryPlan } from '../../compiler/plan.ts';
import type { ProxyRepository } from '../../runtime/repositories/proxy/proxy.ts';
import type { BlobResponse } from '../../runtime/repositories/repository.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type ForwardProxy, startForwardProxy } from '../helpers/forward-proxy.ts';
import { buildImage } from '../helpers/oci-image.ts';
import { type ProxyPlanOverrides, proxyPlan, pushImage, readBlob, TestProxies } from '../helpers/proxy-setup.ts';
import { TmpDirs } from '../helpers/tmp.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const dirs = new TmpDirs();
const proxies = new TestProxies();
const image = buildImage({ layers: 2, layerSize: 4 * 1024 * 1024, seed: 'proxy-upstreams' });
let plain: Distribution;
let basic: Distribution;
let tokened: Distribution;
let tokens: TokenServer;
let forward: ForwardProxy;

/** A proxy plan with a 10 s upstream timeout (real registries, 4 MiB layers). */
function plan(url: string, extra: ProxyPlanOverrides = {}) {
  return proxyPlan(url, { ...extra, remote: { timeoutMs: 10_000, ...extra.remote } });
}

function proxy(p: ProxyRepositoryPlan, env: NodeJS.ProcessEnv = {}) {
  return proxies.create(p, { env });
}

async function drain(response: BlobResponse): Promise<number> {
  return (await readBlob(response)).length;
}

async function pullAll(repo: ProxyRepository, name: string, tag: string) {
  const manifest = await repo.getManifest(name, tag);
  expect(manifest.digest).toBe(image.manifest.digest);
  for (const blob of [image.config, ...image.layers])
    expect(await drain(await repo.getBlob(name, blob.digest))).toBe(blob.bytes.length);
}

beforeAll(async () => {
  plain = await startDistribution({ dir: await dirs.make() });
  await pushImage(plain.url, 'team/app', 'v1', image);
  basic = await startDistribution({ dir: await dirs.make(), htpasswd: { puller: 'pull-secret' } });
  await pushImage(basic.url, 'team/app', 'v1', image, `Basic ${Buffer.from('puller:pull-secret').toString('base64')}`);
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
  await pushImage(tokened.url, 'team/app', 'v1', image, `Bearer ${token}`);
  tokens.requests.length = 0;
  forward = await startForwardProxy();
}, 60_000);

afterAll(async () => {
  await proxies.closeAll();
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
    const repo = proxy(plan(basic.url, { remote: { auth } }), {
      UPSTREAM_PASSWORD: 'pull-secret',
    });
    await pullAll(repo, 'team/app', 'v1');
    const wrong = proxy(plan(basic.url, { remote: { auth } }), {
      UPSTREAM_PASSWORD: 'wrong',
    });
    // Refused credentials are a configuration problem, not a missing image: a 503 that says so.
    await expect(wrong.getManifest('team/app', 'v1')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining(`the upstream ${basic.url} refused our credentials (401 from the registry)`),
    });
  });

  it('runs the Bearer token flow against an auth.token upstream and reuses the token', async () => {
    const auth = { username: 'robot', password: { env: 'UPSTREAM_PASSWORD' } };
    const repo = proxy(plan(tokened.url, { remote: { auth } }), {
      UPSTREAM_PASSWORD: 'robot-secret',
    });
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
