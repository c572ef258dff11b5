/**
 * Online garbage collection on the s3 blob store against a real Ceph RADOS Gateway, with two
 * `regctl serve` replicas sharing one bucket and prefix, and skopeo:
 * - two images sharing a layer pushed through one replica, one deleted through the other;
 *   `regctl gc --dry-run` lists what `regctl gc` then deletes and deletes nothing; the bucket's
 *   `blobs/` objects drop by exactly the deleted image's unique bytes; the shared layer stays and
 *   the other image pulls byte-identical through both replicas;
 * - one collector at a time: while a lease is held (taken here with `GcLease` on the same bucket)
 *   `regctl gc` is skipped naming the holder and deletes nothing while both replicas serve; after
 *   the release it runs; two `regctl gc` started at the same moment never both delete;
 * - both replicas collecting every second (competing for the lease) while a client re-pushes
 *   garbage images through both: every image pulls whole through both, and the passes the two
 *   replicas logged never overlap in time.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcLease } from '../../runtime/gc/lease.ts';
import { createS3BlobStore } from '../../runtime/storage/drivers/s3/s3.ts';
import { type CephS3, s3StoreConfig, s3StorePlan, startCeph } from '../helpers/ceph.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import {
  bucketBlobs,
  imageOf,
  type LoggedPass,
  layersOf,
  loggedPasses,
  pullsIdentical,
  rewriteConfig,
  runRegctl,
} from '../helpers/gc-images.ts';
import { type Blob, type Image, writeOciLayout } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let ceph: CephS3;
let prefix: string;
let a: RegctlServer;
let b: RegctlServer;
let tools: ContainersTools;
let layout: string;

const shared = layersOf('gc-s3-shared', 1)[0]!;
const imageA = imageOf('gc-s3-a', [shared, ...layersOf('gc-s3-a', 2)]);
const imageB = imageOf('gc-s3-b', [shared, ...layersOf('gc-s3-b', 1)]);
const imageC = imageOf('gc-s3-c', layersOf('gc-s3-c', 1, 96 * 1024));
const imageD = imageOf('gc-s3-d', layersOf('gc-s3-d', 1, 32 * 1024));
const pairs = Array.from({ length: 3 }, (_, i) =>
  imageOf(`gc-s3-pair-${i}`, layersOf(`gc-s3-pair-${i}`, 1, 48 * 1024)),
);
const racers = Array.from({ length: 3 }, (_, i) =>
  imageOf(`gc-s3-race-${i}`, layersOf(`gc-s3-race-${i}`, 2, 64 * 1024)),
);

const config = (interval?: string): TestConfig => ({
  blobStores: [s3StoreConfig(prefix)],
  repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
  listeners: [{ host: '127.0.0.1', paths: ['private'] }],
  gc: { gracePeriod: '1s', ...(interval === undefined ? {} : { interval }) },
});

beforeAll(async () => {
  ceph = await startCeph();
  prefix = `gc-${randomBytes(4).toString('hex')}`;
  [a, b] = await Promise.all([
    dirs.make().then((dir) => startRegctl({ dir, config: config(), env: ceph.env })),
    dirs.make().then((dir) => startRegctl({ dir, config: config(), env: ceph.env })),
  ]);
  tools = await createContainersTools(await dirs.make());
  layout = await dirs.make();
  const entries: Record<string, Image> = { a: imageA, b: imageB, c: imageC, d: imageD };
  pairs.forEach((image, i) => {
    entries[`pair-${i}`] = image;
  });
  racers.forEach((image, i) => {
    entries[`race-${i}`] = image;
  });
  await writeOciLayout(layout, entries);
}, 180_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await ceph?.stop();
  await dirs.cleanup();
}, 60_000);

const push = (via: RegctlServer, ref: string, target: string) =>
  tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:${ref}`, `docker://${via.host}/${target}`]);
const remove = (via: RegctlServer, target: string) =>
  tools.skopeo(['delete', '--tls-verify=false', `docker://${via.host}/${target}`]);
const pull = async (via: RegctlServer, target: string, image: Image) =>
  pullsIdentical(tools, await dirs.make(), via.host, target, image);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Report {
  skipped?: { heldBy: { holder: string; expiresAt: number } };
  startedAt: string;
  durationMs: number;
  deleted: { blobs: { digest: string; size: number }[]; manifests: unknown[]; tags: unknown[] };
  reclaimedBytes: number;
}

/** `regctl gc --json` against the replicas' bucket (run as its own process, like a cron job). */
async function gc(...args: string[]): Promise<Report> {
  const result = await runRegctl(['gc', '--config', a.configFile, '--json', ...args], { env: ceph.env });
  expect(result.code, result.stderr).toBe(0);
  const reports = JSON.parse(result.stdout) as Report[];
  expect(reports).toHaveLength(1);
  return reports[0]!;
}

const blobsOf = (image: Image): Blob[] => [image.manifest, image.config, ...image.layers];
const bytesOf = (blobs: readonly Blob[]) => blobs.reduce((sum, blob) => sum + blob.bytes.length, 0);
const digestsOf = (blobs: readonly { digest: string }[]) => blobs.map((blob) => blob.digest).sort();

describe('regctl gc on the s3 store (Ceph RGW), two replicas on one bucket', () => {
  it('reclaims exactly the unique bytes of an image deleted through the other replica', async () => {
    await push(a, 'a', 'private/app:a');
    await push(a, 'b', 'private/app:b');
    await remove(b, 'private/app:a');
    await sleep(1_100); // past the grace period
    const before = await bucketBlobs(ceph, prefix);
    const unique = blobsOf(imageA).filter((blob) => blob !== shared);
    const uniqueBytes = bytesOf(unique);

    const dry = await gc('--dry-run');
    expect(await bucketBlobs(ceph, prefix)).toEqual(before);
    expect(digestsOf(dry.deleted.blobs)).toEqual(digestsOf(unique));
    expect(dry.reclaimedBytes).toBe(uniqueBytes);

    const real = await gc();
    expect(real.skipped).toBeUndefined();
    expect(digestsOf(real.deleted.blobs)).toEqual(digestsOf(dry.deleted.blobs));
    expect(real.reclaimedBytes).toBe(uniqueBytes);
    const after = await bucketBlobs(ceph, prefix);
    expect(before.bytes - after.bytes).toBe(uniqueBytes);
    expect([...before.digests].filter((d) => !after.digests.has(d)).sort()).toEqual(digestsOf(unique));
    expect(after.digests.has(shared.digest)).toBe(true);
    await Promise.all([pull(a, 'private/app:b', imageB), pull(b, 'private/app:b', imageB)]);
    console.info(`s3 pass: ${real.durationMs} ms, ${real.reclaimedBytes} bytes reclaimed (${unique.length} blobs)`);
  });

  it('a pass finding the lease held is skipped and deletes nothing while both replicas serve; after the release it runs', async () => {
    await push(a, 'c', 'private/app:c');
    await remove(b, 'private/app:c');
    await sleep(1_100);
    const store = await createS3BlobStore(s3StorePlan({ name: 'default', prefix }), {
      env: ceph.env,
      sweepIntervalMs: 0,
    });
    try {
      const lease = await GcLease.acquire(store, { holder: 'e2e-other-collector', ttlMs: 60_000 });
      if (!(lease instanceof GcLease)) throw new Error(`lease held by ${lease.heldBy.holder}`);
      const before = await bucketBlobs(ceph, prefix);
      const held = await gc();
      expect(held.skipped?.heldBy.holder).toBe('e2e-other-collector');
      expect(held.deleted.blobs).toEqual([]);
      expect(held.reclaimedBytes).toBe(0);
      expect(await bucketBlobs(ceph, prefix)).toEqual(before);
      // the replicas serve on: a push through one pulls through the other
      await push(b, 'd', 'private/app:d');
      await Promise.all([pull(a, 'private/app:d', imageD), pull(b, 'private/app:b', imageB)]);
      await lease.release();

      const released = await bucketBlobs(ceph, prefix);
      expect(released.bytes - before.bytes).toBe(bytesOf(blobsOf(imageD)));
      const real = await gc();
      expect(real.skipped).toBeUndefined();
      expect(digestsOf(real.deleted.blobs)).toEqual(digestsOf(blobsOf(imageC)));
      expect(released.bytes - (await bucketBlobs(ceph, prefix)).bytes).toBe(bytesOf(blobsOf(imageC)));
      await Promise.all([pull(b, 'private/app:d', imageD), pull(a, 'private/app:b', imageB)]);
    } finally {
      await store.close();
    }
  });

  it('two regctl gc started at the same moment: at most one deletes, neither fails', async () => {
    for (let round = 0; round < pairs.length; round++) {
      await push(round % 2 === 0 ? a : b, `pair-${round}`, `private/pair:${round}`);
      await remove(round % 2 === 0 ? b : a, `private/pair:${round}`);
      await sleep(1_100);
      const before = await bucketBlobs(ceph, prefix);
      const reports = await Promise.all([gc(), gc()]);
      const deleting = reports.filter((report) => report.deleted.blobs.length > 0);
      expect(deleting).toHaveLength(1);
      for (const report of reports) {
        if (report !== deleting[0]) expect(report.reclaimedBytes).toBe(0);
      }
      expect(digestsOf(deleting[0]!.deleted.blobs)).toEqual(digestsOf(blobsOf(pairs[round]!)));
      expect(before.bytes - (await bucketBlobs(ceph, prefix)).bytes).toBe(bytesOf(blobsOf(pairs[round]!)));
      console.info(
        `round ${round}: ${reports.map((r) => (r.skipped ? 'skipped' : `${r.deleted.blobs.length} blobs in ${r.durationMs} ms`)).join(', ')}`,
      );
      await Promise.all([pull(a, 'private/app:b', imageB), pull(b, 'private/app:d', imageD)]);
    }
  });
});

describe('both replicas collecting every second while pushes race them', () => {
  it('every image re-pushed through either replica pulls whole through both; passes never overlap', async () => {
    await Promise.all([a.stop(), b.stop()]);
    await Promise.all([rewriteConfig(a, config('1s')), rewriteConfig(b, config('1s'))]);
    await Promise.all([a.restart(), b.restart()]);
    for (let round = 0; round < 3; round++) {
      // make every racer garbage, then let it age past the grace period
      for (let i = 0; i < racers.length; i++) await push(a, `race-${i}`, `private/race:${i}`);
      for (let i = 0; i < racers.length; i++) await remove(b, `private/race:${i}`);
      await sleep(1_200);
      // re-push them all through both replicas while both collect every second
      await Promise.all(racers.map((_, i) => push(i % 2 === 0 ? a : b, `race-${i}`, `private/race:${i}`)));
      await Promise.all(
        racers.flatMap((image, i) => [pull(a, `private/race:${i}`, image), pull(b, `private/race:${i}`, image)]),
      );
    }
    await sleep(1_500); // passes with nothing racing
    await Promise.all(racers.map((image, i) => pull(i % 2 === 0 ? b : a, `private/race:${i}`, image)));
    await Promise.all([pull(a, 'private/app:b', imageB), pull(b, 'private/app:d', imageD)]);

    const statuses = await Promise.all(
      [a, b].map(async (server) => {
        const status = (await (await fetch(`${server.url}/-/status`)).json()) as {
          storage: { gc: { store: string; error?: string }[] };
        };
        return status.storage.gc;
      }),
    );
    for (const gcStatus of statuses) {
      expect(gcStatus.map((entry) => entry.store)).toEqual(['default']);
      expect(gcStatus[0]!.error).toBeUndefined();
    }
    const logs = await Promise.all([loggedPasses(a.logFile), loggedPasses(b.logFile)]);
    for (const log of logs) expect(log.done.length + log.skipped).toBeGreaterThan(0);
    const passes: (LoggedPass & { replica: string })[] = logs
      .flatMap((log, i) => log.done.map((pass) => ({ ...pass, replica: i === 0 ? 'a' : 'b' })))
      .sort((x, y) => x.start - y.start);
    expect(passes.length).toBeGreaterThanOrEqual(3);
    expect(passes.reduce((sum, pass) => sum + pass.blobs, 0)).toBeGreaterThan(0);
    for (let i = 1; i < passes.length; i++) {
      const [earlier, later] = [passes[i - 1]!, passes[i]!];
      expect(
        later.start,
        `pass of ${later.replica} started ${earlier.end - later.start} ms before the pass of ${earlier.replica} ended`,
      ).toBeGreaterThanOrEqual(earlier.end);
    }
    const durations = passes.map((pass) => pass.end - pass.start);
    console.info(
      `scheduled passes: ${logs.map((log, i) => `${i === 0 ? 'a' : 'b'} ${log.done.length} done, ${log.skipped} skipped`).join('; ')}; ` +
        `durations ${Math.min(...durations)}–${Math.max(...durations)} ms; ` +
        `${passes.reduce((sum, pass) => sum + pass.reclaimedBytes, 0)} bytes reclaimed`,
    );
  });
});
