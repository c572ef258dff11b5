/**
 * A proxy repository with `remote.mirrors`, end to end: three Debian distribution registries on
 * loopback (mirror A behind a fault-injecting proxy, mirror B, the remote R), `regctl serve`,
 * skopeo and plain fetch as clients; each registry's access log (and the fault proxy's record)
 * tells who served what.
 *
 * - Mirrors first: A serves, B and R see nothing.
 * - A down (connection refused): B serves; `/-/status` shows A's breaker open with its error and
 *   next retry; an unrelated reload keeps that state; once A is back it is asked again only
 *   after the back-off, and serves again.
 * - A answers 429 with `Retry-After: 5`: B serves, and no request reaches A for 5 s.
 * - `regctl_upstream_endpoint_state` says the same as `/-/status`.
 * - A reload that changes the repository's endpoints (mirrorsFirst: false) makes R first.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { getStatus, reloadWith } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const images: Image[] = Array.from({ length: 6 }, (_, i) =>
  buildImage({ layers: 2, layerSize: 32 * 1024, seed: `proxy-mirrors-${i}` }),
);
let a: Distribution;
let b: Distribution;
let r: Distribution;
let faultA: FaultProxy;
let server: RegctlServer;
let tools: ContainersTools;
let port: number;
let metricsPort: number;

interface EndpointStatus {
  url: string;
  role: 'mirror' | 'remote';
  state: string;
  consecutiveFailures: number;
  nextRetryAt: string | null;
  lastError: string | null;
  lastSuccessAt: string | null;
}

function config(options: { mirrorsFirst?: boolean; extra?: boolean } = {}): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      {
        name: 'mirrored',
        type: 'proxy',
        remote: {
          url: r.url,
          index: 'registry',
          mirrors: [faultA.url, b.url],
          ...(options.mirrorsFirst === undefined ? {} : { mirrorsFirst: options.mirrorsFirst }),
          timeout: '5s',
        },
        anonymous: ['pull'],
      },
      ...(options.extra ? [{ name: 'extra', type: 'hosted' as const, anonymous: ['pull' as const] }] : []),
    ],
    listeners: [{ host: '127.0.0.1', port, repository: 'mirrored' }],
    metrics: { host: '127.0.0.1', port: metricsPort },
  };
}

async function endpoints(): Promise<EndpointStatus[]> {
  const status = (await getStatus(server.url)) as unknown as {
    upstreams: { name: string; endpoints: EndpointStatus[] }[];
  };
  return status.upstreams.find((upstream) => upstream.name === 'mirrored')!.endpoints;
}

/** Pulls image `n` with skopeo and checks its manifest digest. */
async function pull(n: number): Promise<void> {
  const out = await dirs.make();
  await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/app${n}:v1`, `oci:${out}:a`]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
  expect(index.manifests[0].digest).toBe(images[n]!.manifest.digest);
}

/** Manifest GETs of image `n` that reached a registry. */
const manifestGets = (registry: Distribution, n: number) =>
  registry.countRequests(new RegExp(`^GET /v2/team/app${n}/manifests/`));
const tagLists = (proxy: FaultProxy) => proxy.count(/^GET \/v2\/team\/app0\/tags\/list/);

beforeAll(async () => {
  [a, b, r] = await Promise.all([
    startDistribution({ dir: await dirs.make() }),
    startDistribution({ dir: await dirs.make() }),
    startDistribution({ dir: await dirs.make() }),
  ]);
  await Promise.all(
    [a, b, r].map(async (registry) => {
      for (const [n, image] of images.entries()) await pushImage(registry.url, `team/app${n}`, 'v1', image);
    }),
  );
  faultA = await startFaultProxy(a.url);
  port = await freePort();
  metricsPort = await freePort();
  [server, tools] = await Promise.all([
    startRegctl({ dir: await dirs.make(), config: config() }),
    createContainersTools(await dirs.make()),
  ]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await faultA?.stop();
  await Promise.all([a?.stop(), b?.stop(), r?.stop()]);
  await dirs.cleanup();
});

describe('proxy mirrors with failover (three distribution registries)', () => {
  it('asks the first mirror first: A serves, B and R see nothing', async () => {
    await pull(0);
    expect(manifestGets(a, 0)).toBeGreaterThan(0);
    expect(manifestGets(b, 0)).toBe(0);
    expect(manifestGets(r, 0)).toBe(0);
    expect((await endpoints()).map((e) => [e.role, e.state])).toEqual([
      ['mirror', 'closed'],
      ['mirror', 'closed'],
      ['remote', 'closed'],
    ]);
  });

  it('first mirror down: the second serves; A is skipped, kept open across an unrelated reload, used again after its back-off', async () => {
    await faultA.down();
    await pull(1);
    expect(manifestGets(b, 1)).toBeGreaterThan(0);
    expect(manifestGets(a, 1)).toBe(0);
    expect(manifestGets(r, 1)).toBe(0);
    const [downA, healthyB] = await endpoints();
    expect(downA).toMatchObject({ url: faultA.url, role: 'mirror' });
    expect(downA!.consecutiveFailures).toBeGreaterThanOrEqual(1);
    expect(downA!.lastError).toMatch(/connection refused/);
    expect(downA!.nextRetryAt).not.toBeNull();
    expect(healthyB).toMatchObject({ url: b.url, state: 'closed', lastError: null });
    // The web UI's repository page lists the endpoints in order with the same states.
    const page = await (await fetch(`${server.url}/ui/r/mirrored`)).text();
    const listed = [...page.matchAll(/<li data-endpoint="([^"]+)" data-state="([^"]+)">/g)].map((m) => [m[1], m[2]]);
    expect(listed).toEqual([
      // open, or half-open once its back-off (1 s) has passed since the status was read
      [faultA.url, expect.stringMatching(/^(open|half-open)$/)],
      [b.url, 'closed'],
      [r.url, 'closed'],
    ]);
    expect(page).toContain('connection refused');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const stateOf = (url: string) =>
      [...metrics.matchAll(/^regctl_upstream_endpoint_state\{([^}]*)\} 1$/gm)]
        .map((m) => m[1]!)
        .filter((labels) => labels.includes(`url="${url}"`))
        .map((labels) => /state="([^"]+)"/.exec(labels)![1]);
    expect(stateOf(faultA.url)).toEqual([expect.stringMatching(/^(open|half-open)$/)]);
    expect(stateOf(b.url)).toEqual(['closed']);
    expect(stateOf(r.url)).toEqual(['closed']);

    // A reload that leaves this repository alone keeps its endpoints' state.
    await reloadWith(server.url, server.configFile, config({ extra: true }));
    const [kept] = await endpoints();
    expect(kept!.consecutiveFailures).toBeGreaterThanOrEqual(downA!.consecutiveFailures);
    expect(kept!.lastError).toBe(downA!.lastError);

    await faultA.up();
    const upAt = Date.now();
    const [beforeRetry] = await endpoints();
    const retryAt = Date.parse(beforeRetry!.nextRetryAt ?? new Date(upAt).toISOString());
    const seen = faultA.requests.length;
    // The tag list always goes upstream: poll with it until A is asked again.
    await waitUntil(
      async () => {
        const response = await fetch(`${server.url}/v2/team/app0/tags/list`);
        expect(response.status).toBe(200);
        return tagLists(faultA) > 0;
      },
      'mirror A asked again',
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const first = faultA.requests[seen]!;
    // Not before the back-off the status announced (same clock; a few ms of slack).
    expect(first.at).toBeGreaterThanOrEqual(retryAt - 20);
    const [recovered] = await endpoints();
    expect(recovered).toMatchObject({ state: 'closed', consecutiveFailures: 0, nextRetryAt: null });

    await pull(2);
    expect(manifestGets(a, 2)).toBeGreaterThan(0);
    expect(manifestGets(b, 2)).toBe(0);
  }, 40_000);

  it('a mirror answering 429 Retry-After: 5 gets no request for 5 s; the next mirror serves meanwhile', async () => {
    faultA.rateLimit('5');
    const seen = faultA.requests.length;
    await pull(3);
    expect(manifestGets(b, 3)).toBeGreaterThan(0);
    expect(manifestGets(r, 3)).toBe(0);
    const limitedAt = faultA.requests[seen]!.at;
    expect(faultA.requests[seen]!.fault).toBe(429);
    const [limited] = await endpoints();
    expect(limited!.state).toBe('rate-limited');
    expect(Date.parse(limited!.nextRetryAt!) - limitedAt).toBeGreaterThanOrEqual(4000);

    // Keep asking through regctl during the window: A must see nothing more.
    await pull(4);
    expect(manifestGets(b, 4)).toBeGreaterThan(0);
    faultA.clear();
    await waitUntil(
      async () => {
        const response = await fetch(`${server.url}/v2/team/app0/tags/list`);
        expect(response.status).toBe(200);
        return faultA.requests.length > seen + 1;
      },
      'mirror A asked again after Retry-After',
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const next = faultA.requests[seen + 1]!;
    expect(next.at - limitedAt).toBeGreaterThanOrEqual(4900);
    expect(next.fault).toBeUndefined();
  }, 30_000);

  it('a reload to mirrorsFirst: false puts the remote first, with fresh endpoint state', async () => {
    await reloadWith(server.url, server.configFile, config({ mirrorsFirst: false }));
    expect((await endpoints()).map((e) => [e.role, e.url, e.lastSuccessAt])).toEqual([
      ['remote', r.url, null],
      ['mirror', faultA.url, null],
      ['mirror', b.url, null],
    ]);
    const response = await fetch(`${server.url}/v2/team/app5/manifests/v1`, {
      headers: { accept: images[5]!.mediaType },
    });
    expect(response.status).toBe(200);
    expect(manifestGets(r, 5)).toBe(1);
    expect(manifestGets(b, 5)).toBe(0);
  });
});
