/**
 * Resumed upstream blob fetches end to end: `regctl serve` proxies Debian's distribution registry
 * through a TCP relay that cuts responses mid-body (test/helpers/cutting-relay.ts).
 * - Range supported: skopeo's pull gets every byte, and distribution's access log shows the
 *   ranged GETs (206) that continued the cut bodies.
 * - Range ignored (the relay strips it): the resume is answered whole (200), re-read up to the byte
 *   reached; the client still gets the blob, and what is cached is the whole, verified blob.
 * - Requests that joined the fetch (single flight) get the whole blob too, from the one resumed body.
 * - A relay that always cuts: bounded resumes, a cut client response, nothing cached.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainersTools } from '../helpers/clients.ts';
import { type CuttingRelay, startCuttingRelay } from '../helpers/cutting-relay.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const MiB = 1024 * 1024;
const images: Record<string, Image> = {
  ranged: buildImage({ layers: 1, layerSize: 6 * MiB, seed: 'resume-ranged' }),
  whole: buildImage({ layers: 1, layerSize: 4 * MiB, seed: 'resume-whole' }),
  cut: buildImage({ layers: 1, layerSize: 8 * MiB, seed: 'resume-always-cut' }),
  shared: buildImage({ layers: 1, layerSize: 4 * MiB, seed: 'resume-coalesced' }),
};
let upstream: Distribution;
let relay: CuttingRelay;
let server: RegctlServer;
let dataDir: string;
let metricsPort: number;

/** `regctl_proxy_blob_resumes_total` of the proxy, by how (0 when not exported yet). */
async function resumes(how: 'continued' | 'restarted'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = new RegExp(`^regctl_proxy_blob_resumes_total\\{repository="upstream",how="${how}"\\} (\\d+)$`, 'm').exec(
    text,
  );
  return line === null ? 0 : Number(line[1]);
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  for (const [name, image] of Object.entries(images)) await pushImage(upstream.url, `team/${name}`, 'v1', image);
  relay = await startCuttingRelay(upstream.port);
  const dir = await dirs.make();
  dataDir = join(dir, 'data');
  metricsPort = await freePort();
  server = await startRegctl({
    dir,
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        {
          name: 'upstream',
          type: 'proxy',
          remote: { url: relay.url, index: 'registry', timeout: '10s' },
          anonymous: ['pull'],
        },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'upstream' }],
      metrics: { host: '127.0.0.1', port: metricsPort },
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await relay?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

/** Access-log lines of GETs of `digest` answered with `status`. */
function upstreamGets(digest: string, status: number): number {
  return upstream.countRequests(new RegExp(`^GET /v2/\\S+/blobs/${digest} HTTP/1\\.1 ${status}$`));
}

async function fetchBlob(name: string, digest: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/v2/${name}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** Every file under the store's folder (blobs, temp files), relative. */
async function storeFiles(): Promise<string[]> {
  const found = await readdir(dataDir, { recursive: true, withFileTypes: true });
  return found.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('resumed upstream blob fetches through a relay that cuts', () => {
  it('skopeo pulls through two cuts; the resumes are ranged GETs in the upstream log', {
    timeout: 30_000,
  }, async () => {
    const image = images.ranged!;
    const layer = image.layers[0]!;
    relay.cutAfterBytes = MiB;
    relay.cuts = 2;
    const continuedBefore = await resumes('continued');
    const tools = await createContainersTools(await dirs.make());
    const out = join(await dirs.make(), 'layout');
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/ranged:v1`, `oci:${out}:v1`]);
    const pulled = await readFile(join(out, 'blobs', 'sha256', layer.digest.slice(7)));
    expect(sha256(pulled)).toBe(layer.digest);
    expect(relay.cuts).toBe(0);
    expect(upstreamGets(layer.digest, 200)).toBe(1);
    expect(upstreamGets(layer.digest, 206)).toBe(2);
    const ranges = relay.requests.filter((r) => r.includes(layer.digest) && r.includes('range='));
    expect(ranges).toEqual([
      expect.stringMatching(/range=bytes=1048576-$/),
      expect.stringMatching(/range=bytes=2097152-$/),
    ]);
    await server.waitForLog(/resumed after a dropped upstream connection/);
    expect((await resumes('continued')) - continuedBefore).toBe(2);
  });

  it('an upstream that ignores Range: the blob is read again whole, the client is not cut, the cache is whole', {
    timeout: 30_000,
  }, async () => {
    const layer = images.whole!.layers[0]!;
    relay.cutAfterBytes = 1.5 * MiB;
    relay.cuts = 1;
    relay.stripRange = true;
    try {
      const body = await fetchBlob('team/whole', layer.digest);
      expect(sha256(body)).toBe(layer.digest);
      expect(body.length).toBe(layer.bytes.length);
    } finally {
      relay.stripRange = false;
    }
    expect(upstreamGets(layer.digest, 200)).toBe(2);
    expect(upstreamGets(layer.digest, 206)).toBe(0);
    await server.waitForLog(/restarted \(the upstream answered the resume whole\)/);
    // What was cached is the whole blob: served again without the upstream, byte for byte.
    const again = await fetchBlob('team/whole', layer.digest);
    expect(again.equals(layer.bytes)).toBe(true);
    expect(upstreamGets(layer.digest, 200)).toBe(2);
  });

  it('requests that joined the fetch are served the whole blob after its resumes, from one upstream body', {
    timeout: 30_000,
  }, async () => {
    const layer = images.shared!.layers[0]!;
    relay.cutAfterBytes = MiB;
    relay.cuts = 2;
    const bodies = await Promise.all(Array.from({ length: 6 }, () => fetchBlob('team/shared', layer.digest)));
    for (const body of bodies) expect(body.equals(layer.bytes)).toBe(true);
    expect(relay.cuts).toBe(0);
    expect(upstreamGets(layer.digest, 200)).toBe(1);
    expect(upstreamGets(layer.digest, 206)).toBe(2);
  });

  it('a relay that always cuts: a bounded number of resumes, the client cut, nothing cached', {
    timeout: 30_000,
  }, async () => {
    const layer = images.cut!.layers[0]!;
    relay.cutAfterBytes = MiB;
    relay.cuts = Number.POSITIVE_INFINITY;
    const before = await storeFiles();
    const started = Date.now();
    try {
      const response = await fetch(`${server.url}/v2/team/cut/blobs/${layer.digest}`);
      await expect(response.arrayBuffer()).rejects.toThrow();
    } finally {
      relay.cuts = 0;
    }
    expect(Date.now() - started).toBeLessThan(15_000);
    // The first GET and four resumes, each cut; then the fetch gave up.
    expect(upstreamGets(layer.digest, 200) + upstreamGets(layer.digest, 206)).toBe(5);
    await server.waitForLog(/dropped 5 times; gave up/);
    await waitUntil(async () => (await storeFiles()).length === before.length, 'the temp file of the fill removed');
    expect(await storeFiles()).toEqual(before);
    // Nothing was cached: the next pull goes upstream again, and gets the blob.
    const body = await fetchBlob('team/cut', layer.digest);
    expect(sha256(body)).toBe(layer.digest);
    expect(upstreamGets(layer.digest, 200)).toBe(2);
  });
});
