/**
 * The storage metrics end to end, scraped by a real Prometheus: `regctl serve` with a hosted
 * repository and a size-bounded proxy in front of Debian's distribution registry, garbage
 * collection every 2 s. skopeo pushes to the hosted repository and pulls through the proxy; once
 * the scheduler measured again, the store and repository gauges equal what `regctl usage --json`
 * reports and the proxy cache gauges what `/-/status` reports (with the configured cap). Then an
 * image is deleted: the next passes are counted as `ok`, and the reclaimed bytes counter moves
 * by exactly what the store's usage dropped by.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { freePort } from '../helpers/free-port.ts';
import { imageOf, layersOf, runRegctl } from '../helpers/gc-images.ts';
import { writeOciLayout } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { type Prometheus, startPrometheus } from '../helpers/prometheus.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const kept = imageOf('storage-metrics-kept', layersOf('storage-metrics-kept', 2, 96 * 1024));
const doomed = imageOf('storage-metrics-doomed', layersOf('storage-metrics-doomed', 2, 160 * 1024));
const upstreamImage = imageOf('storage-metrics-upstream', layersOf('storage-metrics-upstream', 2, 64 * 1024));
const CAP = 4 * 1024 * 1024;
let distribution: Distribution;
let server: RegctlServer;
let prometheus: Prometheus;
let tools: ContainersTools;

interface Usage {
  store: string;
  bytes: number;
  blobs: number;
  repositories: { repository: string; bytes: number }[];
}

async function usage(): Promise<Usage> {
  const { code, stdout, stderr } = await runRegctl(['usage', '--config', server.configFile, '--json']);
  expect(code, stderr).toBe(0);
  const [store] = JSON.parse(stdout) as Usage[];
  return store!;
}

/** Waits until Prometheus holds a usage measurement the scheduler made after `time` (ms). */
async function measuredAfter(time: number): Promise<void> {
  await waitUntil(
    async () =>
      (await prometheus.value('regctl_blob_store_measured_timestamp_seconds{blob_store="default"}')) * 1000 > time,
    'a usage measurement after the change, scraped',
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}

beforeAll(async () => {
  distribution = await startDistribution({ dir: await dirs.make() });
  await pushImage(distribution.url, 'team/app', 'v1', upstreamImage);
  const metricsPort = await freePort();
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'local', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
        { name: 'hub', type: 'proxy', remote: { url: distribution.url }, anonymous: ['pull'], maxSize: '4MiB' },
      ],
      listeners: [{ host: '127.0.0.1', paths: ['local', 'hub'] }],
      metrics: { host: '127.0.0.1', port: metricsPort },
      gc: { interval: '2s', gracePeriod: '1s' },
    },
  });
  prometheus = await startPrometheus({ dir: await dirs.make(), targets: [`127.0.0.1:${metricsPort}`] });
  tools = await createContainersTools(await dirs.make());
}, 180_000);

afterAll(async () => {
  await prometheus?.stop();
  await server?.stop();
  await distribution?.stop();
  await dirs.cleanup();
});

describe('storage metrics scraped by a real Prometheus', () => {
  it('store, repository and proxy cache gauges equal regctl usage and /-/status once measured', async () => {
    const layout = await dirs.make();
    await writeOciLayout(layout, { kept, doomed });
    for (const tag of ['kept', 'doomed']) {
      await tools.skopeo([
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:${tag}`,
        `docker://${server.host}/local/${tag}:v1`,
      ]);
    }
    const out = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/hub/team/app:v1`, `oci:${out}:x`]);
    const changed = Date.now();
    await measuredAfter(changed);
    const measured = await usage();
    expect(measured.bytes).toBeGreaterThan(0);
    expect(await prometheus.value('regctl_blob_store_bytes{blob_store="default"}')).toBe(measured.bytes);
    expect(await prometheus.value('regctl_blob_store_blobs{blob_store="default"}')).toBe(measured.blobs);
    const byRepository = await prometheus.series('regctl_repository_bytes');
    expect(Object.fromEntries(byRepository.map((s) => [s.metric.repository, s.value]))).toEqual(
      Object.fromEntries(measured.repositories.map((r) => [r.repository, r.bytes])),
    );
    expect(measured.repositories.map((r) => r.repository).sort()).toEqual(['hub', 'local']);

    const status = (await (await fetch(`${server.url}/-/status`)).json()) as {
      storage: { caches: { repository: string; usedBytes: number }[] };
    };
    const hub = status.storage.caches.find((c) => c.repository === 'hub');
    expect(hub?.usedBytes).toBeGreaterThan(0);
    expect(await prometheus.value('regctl_proxy_cache_bytes{repository="hub"}')).toBe(hub!.usedBytes);
    expect(await prometheus.value('regctl_proxy_cache_max_bytes{repository="hub"}')).toBe(CAP);
  });

  it('counts the scheduled passes, and the bytes they reclaim equal what the usage dropped by', async () => {
    const before = await usage();
    const reclaimedBefore = await prometheus.value('regctl_gc_reclaimed_bytes_total{blob_store="default"}');
    const runsBefore = await prometheus.value('regctl_gc_runs_total{blob_store="default",outcome="ok"}');
    const manifest = await fetch(`${server.url}/v2/local/doomed/manifests/${doomed.manifest.digest}`, {
      method: 'DELETE',
    });
    expect(manifest.status).toBe(202);
    const unique = [doomed.manifest, doomed.config, ...doomed.layers].reduce((sum, b) => sum + b.bytes.length, 0);
    await waitUntil(
      async () =>
        (await prometheus.value('regctl_gc_reclaimed_bytes_total{blob_store="default"}')) - reclaimedBefore >= unique,
      'the passes after the delete reclaimed the image, scraped',
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const reclaimed =
      (await prometheus.value('regctl_gc_reclaimed_bytes_total{blob_store="default"}')) - reclaimedBefore;
    const after = await usage();
    expect(reclaimed).toBe(unique);
    expect(before.bytes - after.bytes).toBe(unique);
    expect(await prometheus.value('regctl_gc_runs_total{blob_store="default",outcome="ok"}')).toBeGreaterThan(
      runsBefore,
    );
    expect(await prometheus.value('regctl_gc_runs_total{blob_store="default",outcome="failed"}')).toBe(0);
    const last = await prometheus.value('regctl_gc_last_run_timestamp_seconds{blob_store="default"}');
    expect(Date.now() / 1000 - last).toBeLessThan(30);
    await measuredAfter(Date.now());
    expect(await prometheus.value('regctl_blob_store_bytes{blob_store="default"}')).toBe((await usage()).bytes);
  });
});
