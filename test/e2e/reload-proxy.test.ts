/**
 * A proxy repository across hot reloads, end to end: `regctl serve` with a group over a hosted and
 * a proxy repository, the proxy in front of Debian's distribution registry, skopeo as the client.
 *
 * - The reported bug: after a reload that changes anything else, the proxy's upstream client was
 *   closed by the disposal of the old state, so every uncached pull answered 503 until a restart.
 * - A chain of 20 reloads keeps the proxy pulling.
 * - A large uncached pull in flight across a reload completes, byte for byte, and a request for the
 *   same blob after the reload joins it instead of fetching it again.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { reloadWith } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const images: Image[] = Array.from({ length: 24 }, (_, i) =>
  buildImage({ layers: 2, layerSize: 96 * 1024, seed: `reload-proxy-${i}` }),
);
/** One 48 MiB layer: long enough in flight to span a reload when its reader is slow. */
const big = buildImage({ layers: 1, layerSize: 48 * 1024 * 1024, seed: 'reload-proxy-big' });
let upstream: Distribution;
let server: RegctlServer;
let tools: ContainersTools;
let port: number;

function config(extras: readonly string[]): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
      { name: 'hub', type: 'proxy', remote: { url: upstream.url, index: 'registry' }, anonymous: ['pull'] },
      {
        name: 'all',
        type: 'group',
        members: ['private', 'hub'],
        writableMember: 'private',
        anonymous: ['pull', 'push'],
      },
      ...extras.map((name) => ({ name, type: 'hosted' as const, anonymous: ['pull' as const] })),
    ],
    listeners: [{ host: '127.0.0.1', port, repository: 'all', paths: ['hub', 'private', ...extras] }],
  };
}

/** Pulls image `n` through the group with skopeo and checks its manifest digest. */
async function pull(n: number): Promise<void> {
  const out = await dirs.make();
  await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/app${n}:v1`, `oci:${out}:a`]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
  expect(index.manifests[0].digest).toBe(images[n]!.manifest.digest);
}

const blobGets = (n: number) => upstream.countRequests(new RegExp(`^GET /v2/team/app${n}/blobs/`));

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  for (const [n, image] of images.entries()) await pushImage(upstream.url, `team/app${n}`, 'v1', image);
  await pushImage(upstream.url, 'team/big', 'v1', big);
  port = await freePort();
  const dir = await dirs.make();
  server = await startRegctl({ dir, config: config([]), env: { LOG_LEVEL: 'info' } });
  tools = await createContainersTools(await dirs.make());
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

describe('a proxy repository across reloads', () => {
  it('after a reload that adds an unrelated repository, an uncached image still pulls through the proxy', async () => {
    await pull(0);
    expect(blobGets(0)).toBe(3);
    await reloadWith(server.url, server.configFile, config(['extra']));
    const extra = await fetch(`${server.url}/v2/extra/nothing/tags/list`);
    expect(extra.status).toBe(404); // the new repository routes (and has no such image)
    await pull(1);
    expect(blobGets(1)).toBe(3);
    // The cached image is served from the cache, not fetched again.
    await pull(0);
    expect(blobGets(0)).toBe(3);
    expect(server.log()).not.toMatch(/UND_ERR_DESTROYED|client is destroyed/i);
  });

  it('keeps pulling uncached images through a chain of 20 reloads', async () => {
    for (let n = 1; n <= 20; n += 1) {
      const extras = Array.from({ length: n % 3 }, (_, k) => `chain${n}x${k}`);
      await reloadWith(server.url, server.configFile, config(extras));
      if (n % 5 === 0) await pull(1 + n / 5); // images 2..5, each uncached when pulled
    }
    await pull(6);
    for (const n of [2, 3, 4, 5, 6]) expect(blobGets(n)).toBe(3);
  });

  it('a large uncached pull in flight across a reload completes; a request after the reload joins it', async () => {
    const layer = big.layers[0]!;
    const url = `${server.url}/v2/hub/team/big/blobs/${layer.digest}`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const hash = createHash('sha256');
    let size = 0;
    const readSome = async (bytes: number) => {
      while (size < bytes) {
        const { done, value } = await reader.read();
        if (done) return;
        hash.update(value);
        size += value.length;
      }
    };
    await readSome(1024 * 1024); // the transfer is under way, most of it still to come
    await reloadWith(server.url, server.configFile, config(['during']));
    // After the swap, another client asks for the same blob: it waits for the fetch in flight.
    const joined = fetch(url).then(async (r) => ({
      status: r.status,
      digest: `sha256:${createHash('sha256')
        .update(Buffer.from(await r.arrayBuffer()))
        .digest('hex')}`,
    }));
    await readSome(Number.POSITIVE_INFINITY);
    expect(size).toBe(layer.bytes.length);
    expect(`sha256:${hash.digest('hex')}`).toBe(layer.digest);
    expect(await joined).toEqual({ status: 200, digest: layer.digest });
    expect(upstream.countRequests(/^GET \/v2\/team\/big\/blobs\//)).toBe(1);
  });
});
