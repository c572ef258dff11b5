/**
 * Upstream rate limits and `remote.maxConcurrency`, end to end: Debian's distribution registry
 * behind fault-injecting proxies on loopback, `regctl serve`, skopeo and plain fetch as clients.
 *
 * - A remote answering `429 Retry-After: 5` and no other endpoint: the cached image still pulls
 *   (its stale tag is served), an uncached one gets `429 TOOMANYREQUESTS` with `Retry-After` and
 *   the retry time in message and detail, and no request reaches the remote for 5 s.
 * - `maxConcurrency: 2`: concurrent pulls of an image's layers never have more than 2 requests
 *   in flight upstream (the same pulls without it have more), and 16 concurrent cold GETs of one
 *   blob still make one upstream GET.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const cached = buildImage({ layers: 2, layerSize: 32 * 1024, seed: 'rate-limits-cached' });
const uncached = buildImage({ layers: 2, layerSize: 32 * 1024, seed: 'rate-limits-uncached' });
const wide = buildImage({ layers: 8, layerSize: 64 * 1024, seed: 'rate-limits-wide' });
const shared = buildImage({ layers: 1, layerSize: 2 * 1024 * 1024, seed: 'rate-limits-shared' });
let upstream: Distribution;
/** In front of the remote of `solo` (rate limits), `bounded` (maxConcurrency 2) and `unbounded`. */
let soloFault: FaultProxy;
let boundedFault: FaultProxy;
let unboundedFault: FaultProxy;
let server: RegctlServer;
let tools: ContainersTools;

const proxy = (name: string, url: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'proxy' as const,
  remote: { url, index: 'registry' as const, timeout: '5s', ...extra },
  anonymous: ['pull' as const],
});

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  for (const [name, image] of [
    ['team/cached', cached],
    ['team/uncached', uncached],
    ['team/wide', wide],
    ['team/shared', shared],
  ] as const) {
    await pushImage(upstream.url, name, 'v1', image);
  }
  [soloFault, boundedFault, unboundedFault] = await Promise.all([
    startFaultProxy(upstream.url),
    startFaultProxy(upstream.url),
    startFaultProxy(upstream.url),
  ]);
  [server, tools] = await Promise.all([
    startRegctl({
      dir: await dirs.make(),
      config: {
        blobStores: [{ name: 'default', type: 'file', path: './data' }],
        repositories: [
          { ...proxy('solo', soloFault.url), metadataMaxAge: '1s' },
          proxy('bounded', boundedFault.url, { maxConcurrency: 2 }),
          proxy('unbounded', unboundedFault.url),
        ],
        listeners: [{ host: '127.0.0.1', repository: 'solo', paths: ['bounded', 'unbounded'] }],
      },
    }),
    createContainersTools(await dirs.make()),
  ]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([soloFault?.stop(), boundedFault?.stop(), unboundedFault?.stop()]);
  await upstream?.stop();
  await dirs.cleanup();
});

async function pull(reference: string, image: Image): Promise<void> {
  const out = await dirs.make();
  await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/${reference}`, `oci:${out}:a`]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
  expect(index.manifests[0].digest).toBe(image.manifest.digest);
}

async function getBlob(path: string, digest: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/v2/${path}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('upstream rate limits (429 Retry-After) with no other endpoint', () => {
  it('serves the cached image stale, answers 429 with Retry-After for an uncached one, sends nothing for 5 s', async () => {
    await pull('team/cached:v1', cached);
    const pulledAt = Date.now();
    soloFault.rateLimit('5');
    // Let the cached tag pass metadataMaxAge (1 s), so the pull below must ask the remote.
    await waitUntil(async () => Date.now() - pulledAt > 1100, 'the cached tag to be due for revalidation', {
      intervalMs: 50,
    });
    const seen = soloFault.requests.length;
    await pull('team/cached:v1', cached);
    expect(soloFault.requests.length).toBe(seen + 1);
    const limited = soloFault.requests[seen]!;
    expect(limited).toMatchObject({ method: 'HEAD', fault: 429 });

    const response = await fetch(`${server.url}/v2/team/uncached/manifests/v1`, {
      headers: { accept: uncached.mediaType },
    });
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(5);
    const body = (await response.json()) as {
      errors: { code: string; message: string; detail: { retryAfterSeconds: number; retryAt: string } }[];
    };
    const [error] = body.errors;
    expect(error!.code).toBe('TOOMANYREQUESTS');
    expect(error!.message).toContain(`rate-limits us (429, retry after ${retryAfter}s (at ${error!.detail.retryAt}))`);
    expect(error!.detail.retryAfterSeconds).toBe(retryAfter);
    const announced = Date.parse(error!.detail.retryAt) - limited.at;
    expect(announced).toBeGreaterThanOrEqual(5000);
    expect(announced).toBeLessThan(7000);
    // Answered from memory: the remote was not asked.
    expect(soloFault.requests.length).toBe(seen + 1);

    soloFault.clear();
    await waitUntil(
      async () => {
        const again = await fetch(`${server.url}/v2/team/uncached/manifests/v1`, {
          headers: { accept: uncached.mediaType },
        });
        await again.arrayBuffer();
        return again.status === 200;
      },
      'the uncached image after Retry-After',
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const next = soloFault.requests[seen + 1]!;
    expect(next.at - limited.at).toBeGreaterThanOrEqual(4900);
    expect(next.fault).toBeUndefined();
  }, 30_000);
});

describe('remote.maxConcurrency', () => {
  it('bounds concurrent upstream requests to 2 (without it, more are in flight)', async () => {
    boundedFault.delayMs = 150;
    unboundedFault.delayMs = 150;
    const digests = [wide.config, ...wide.layers].map((blob) => blob.digest);
    const fetchAll = (path: string) => Promise.all(digests.map((digest) => getBlob(path, digest)));
    const [bounded, unbounded] = await Promise.all([fetchAll('bounded/team/wide'), fetchAll('unbounded/team/wide')]);
    expect(bounded.map(sha256)).toEqual(digests);
    expect(unbounded.map(sha256)).toEqual(digests);
    expect(boundedFault.count(/^GET \/v2\/team\/wide\/blobs\//)).toBe(digests.length);
    expect(boundedFault.peak).toBe(2);
    expect(unboundedFault.peak).toBeGreaterThan(2);
    expect(boundedFault.active).toBe(0);
  });

  it('keeps the single flight: 16 concurrent cold GETs of one blob make one upstream GET', async () => {
    boundedFault.delayMs = 50;
    const layer = shared.layers[0]!;
    const bodies = await Promise.all(Array.from({ length: 16 }, () => getBlob('bounded/team/shared', layer.digest)));
    for (const body of bodies) expect(body.equals(layer.bytes)).toBe(true);
    expect(boundedFault.count(new RegExp(`^GET /v2/team/shared/blobs/${layer.digest}`))).toBe(1);
  });
});
