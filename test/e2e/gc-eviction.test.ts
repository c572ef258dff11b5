/**
 * Size-bounded proxy caches against a running `regctl serve`, on the file store and on S3 (Ceph
 * RGW), with skopeo and the CNCF registry as the upstream: a proxy with `maxSize` under the size of
 * two cached images evicts the least recently pulled one in the background and stays under the
 * cap; a blob a hosted repository on the same store references stays; evicted content is fetched
 * again on the next pull, and cached content is served without the upstream.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3BlobStore } from '../../runtime/storage/drivers/s3/s3.ts';
import type { BlobStoreInput } from '../../schema/index.ts';
import { type CephS3, s3StoreConfig, s3StorePlan, startCeph } from '../helpers/ceph.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { blobFiles, imageOf, layersOf, runRegctl } from '../helpers/gc-images.ts';
import { type Image, sha256, writeOciLayout } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const KiB = 1024;
const CAP = 1024 * KiB;
const dirs = new TmpDirs();
let upstream: Distribution;
let tools: ContainersTools;
let ceph: CephS3 | undefined;

const first = imageOf('evict-1', layersOf('evict-1', 1, 600 * KiB));
const second = imageOf('evict-2', layersOf('evict-2', 1, 600 * KiB));
/** A hosted image sharing the first proxied image's layer. */
const own = imageOf('evict-own', [first.layers[0]!, ...layersOf('evict-own', 1, 16 * KiB)]);

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  await pushImage(upstream.url, 'one', '1', first);
  await pushImage(upstream.url, 'two', '1', second);
  tools = await createContainersTools(await dirs.make());
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  await ceph?.stop();
  await dirs.cleanup();
});

interface CacheStatus {
  repository: string;
  usedBytes: number;
  lastEviction?: { blobs: number; bytes: number };
}

/** Upstream GETs of an image's config blob (the first image's layer is in the store for the hosted image). */
const configGets = (image: Image) => upstream.countRequests(new RegExp(`GET /v2/[^ ]*/blobs/${image.config.digest}`));

describe.each(['file', 's3'] as const)('maxSize on a proxy (%s store)', (kind) => {
  let server: RegctlServer;
  let layout: string;
  let blobDigests: () => Promise<Set<string>>;
  let closeStore = async () => {};

  beforeAll(async () => {
    const dir = await dirs.make();
    let store: BlobStoreInput = { name: 'default', type: 'file', path: './data' };
    let env: NodeJS.ProcessEnv = {};
    if (kind === 's3') {
      ceph = await startCeph();
      const prefix = `evict-${randomBytes(4).toString('hex')}`;
      store = s3StoreConfig(prefix);
      env = ceph.env;
      const opened = await createS3BlobStore(s3StorePlan({ name: 'default', prefix }), { env: ceph.env });
      closeStore = () => opened.close();
      blobDigests = async () => {
        const digests = new Set<string>();
        for await (const blob of opened.listBlobs()) digests.add(blob.digest);
        return digests;
      };
    } else {
      blobDigests = async () => (await blobFiles(join(dir, 'data'))).digests;
    }
    server = await startRegctl({
      dir,
      env,
      config: {
        blobStores: [store],
        repositories: [
          { name: 'hub', type: 'proxy', remote: { url: upstream.url }, anonymous: ['pull'], maxSize: '1MiB' },
          { name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
        ],
        listeners: [{ host: '127.0.0.1', paths: ['hub', 'private'] }],
        gc: { gracePeriod: '1s' },
      },
    });
    layout = await dirs.make();
    await writeOciLayout(layout, { own });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await closeStore();
  });

  async function pull(target: string, image: Image): Promise<void> {
    const out = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/${target}`, `oci:${out}:x`]);
    for (const blob of [image.manifest, image.config, ...image.layers]) {
      expect(sha256(await readFile(join(out, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
    }
  }

  /** Polls `/-/status` until the cache reports an eviction (bounded). */
  async function waitForEviction(): Promise<CacheStatus> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const status = (await (await fetch(`${server.url}/-/status`)).json()) as { storage: { caches: CacheStatus[] } };
      const hub = status.storage.caches.find((c) => c.repository === 'hub');
      if (hub?.lastEviction !== undefined) return hub;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no eviction reported within 20 s:\n${server.log().slice(-3000)}`);
  }

  it('evicts the least recently pulled image, stays under the cap, keeps what a hosted repository uses', async () => {
    const gets = { first: configGets(first), second: configGets(second) };
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:own`,
      `docker://${server.host}/private/own:1`,
    ]);
    await pull('hub/one:1', first);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // a later last use for the second
    await pull('hub/two:1', second);
    const hub = await waitForEviction();
    expect(hub.lastEviction!.blobs).toBeGreaterThan(0);

    const { stdout } = await runRegctl(['usage', '--config', server.configFile, '--json'], { env: ceph?.env });
    const usage = JSON.parse(stdout)[0] as { repositories: { repository: string; bytes: number }[] };
    const cached = usage.repositories.find((r) => r.repository === 'hub')!;
    expect(cached.bytes).toBeLessThanOrEqual(CAP);
    const secondBytes = [second.manifest, second.config, ...second.layers].reduce((s, b) => s + b.bytes.length, 0);
    expect(cached.bytes).toBe(secondBytes); // the first image went, the second stayed

    const digests = await blobDigests();
    expect(digests.has(first.config.digest)).toBe(false);
    expect(digests.has(first.manifest.digest)).toBe(false);
    expect(digests.has(first.layers[0]!.digest)).toBe(true); // the hosted image references it
    expect(digests.has(second.layers[0]!.digest)).toBe(true);
    await pull('private/own:1', own);

    // the second is served from the cache; what of the first was evicted is fetched again
    expect(configGets(first)).toBe(gets.first + 1);
    expect(configGets(second)).toBe(gets.second + 1);
    await pull('hub/two:1', second);
    expect(configGets(second)).toBe(gets.second + 1);
    await pull('hub/one:1', first);
    expect(configGets(first)).toBe(gets.first + 2);
  });
});
