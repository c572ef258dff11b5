/**
 * Prometheus metrics end to end: `regctl serve` with a group over a hosted repository and two
 * proxies — one in front of Debian's distribution registry, one in front of a fake upstream that
 * sends Docker Hub's quota headers and can slow its bodies — plus a proxy whose upstream wants
 * Basic credentials and sends its own quota, scraped every 0.4 s by a real Prometheus. skopeo
 * pushes through the group and pulls through the proxy twice; the assertions are exact deltas of
 * what Prometheus stored: one manifest miss then one hit, blob misses then hits per blob, upstream
 * bytes equal to the blob sizes, one upstream fetch and N−1 coalesced requests for N concurrent
 * cold pulls, the quota gauge at 97 (and at 42 under the credential's user), the group member
 * that answered, a revalidation and a stale answer, a 404 then a negative hit, an upload in progress. A flood of distinct
 * image names and tags adds no series. Then reloads: a removed upstream's series disappear while
 * the other counters keep their values, a new metrics port is bound, and without `metrics` no
 * listener is left.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../schema/index.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type CountingUpstream, startCountingUpstream } from '../helpers/counting-upstream.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { type Prometheus, startPrometheus } from '../helpers/prometheus.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { configSource, REPO_ROOT, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const upstreamImage = buildImage({ layers: 3, layerSize: 256 * 1024, seed: 'metrics-e2e-upstream' });
const ownImage = buildImage({ layers: 2, layerSize: 64 * 1024, seed: 'metrics-e2e-own' });
const slowLayer = buildImage({ layers: 1, layerSize: 1024 * 1024, seed: 'metrics-e2e-slow' }).layers[0]!;
let distribution: Distribution;
let fake: CountingUpstream;
/** An upstream that wants Basic credentials and sends its own quota headers (per-credential gauge). */
let quota: CountingUpstream;
const QUOTA_USER = { username: 'puller', password: 'quota-secret-password-42' };
let quotaImage: ReturnType<CountingUpstream['addImage']>;
let server: RegctlServer;
let prometheus: Prometheus;
let tools: ContainersTools;
let metricsPort: number;

function config(options: { withFake: boolean; metricsPort: number | undefined }): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'local', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
      {
        name: 'hub',
        type: 'proxy',
        remote: { url: distribution.url, index: 'registry' },
        metadataMaxAge: '1h',
        anonymous: ['pull'],
      },
      {
        name: 'quota',
        type: 'proxy',
        remote: {
          url: quota.url,
          index: 'registry',
          auth: { username: QUOTA_USER.username, password: { env: 'QUOTA_PASSWORD' } },
        },
        metadataMaxAge: 0, // every GET by tag is checked upstream: revalidations
        anonymous: ['pull'],
      },
      ...(options.withFake
        ? [
            {
              name: 'fake',
              type: 'proxy' as const,
              remote: { url: fake.url, index: 'registry' as const },
              anonymous: ['pull' as const],
            },
          ]
        : []),
      {
        name: 'all',
        type: 'group',
        members: ['local', 'hub', ...(options.withFake ? ['fake'] : [])],
        writableMember: 'local',
        anonymous: ['pull', 'push'],
      },
    ],
    listeners: [
      {
        host: '127.0.0.1',
        port: server?.port ?? 0,
        repository: 'all',
        paths: ['hub', 'local', 'quota', ...(options.withFake ? ['fake'] : [])],
      },
    ],
    ...(options.metricsPort === undefined ? {} : { metrics: { host: '127.0.0.1', port: options.metricsPort } }),
  };
}

/** What Prometheus stored for `query` once it has scraped after now. */
async function scraped(queries: Record<string, string>): Promise<Record<string, number>> {
  await prometheus.scrapedAfter(Date.now() + 50);
  const values: Record<string, number> = {};
  for (const [key, query] of Object.entries(queries)) values[key] = await prometheus.value(query);
  return values;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
}

async function metricsText(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

beforeAll(async () => {
  distribution = await startDistribution({ dir: await dirs.make() });
  await pushImage(distribution.url, 'team/app', 'v1', upstreamImage);
  fake = await startCountingUpstream();
  fake.addContent('lib/slow', [slowLayer.bytes], []);
  fake.faults.headers = { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '97;w=21600' };
  quota = await startCountingUpstream({ basic: QUOTA_USER });
  quotaImage = quota.addImage('lib/quota', 'v1', [Buffer.alloc(8192, 7)]);
  quota.faults.headers = { 'ratelimit-limit': '200;w=3600', 'ratelimit-remaining': '42;w=3600' };
  metricsPort = await freePort();
  server = await startRegctl({
    dir: await dirs.make(),
    config: config({ withFake: true, metricsPort }),
    env: { QUOTA_PASSWORD: QUOTA_USER.password },
  });
  prometheus = await startPrometheus({
    dir: await dirs.make(),
    targets: [`127.0.0.1:${metricsPort}`],
    intervalSeconds: 0.4,
  });
  tools = await createContainersTools(await dirs.make());
}, 180_000);

afterAll(async () => {
  await prometheus?.stop();
  await server?.stop();
  await distribution?.stop();
  await fake?.stop();
  await quota?.stop();
  await dirs.cleanup();
});

describe('Prometheus metrics scraped by a real Prometheus', () => {
  it('counts a skopeo push through the group: one manifest PUT, its bytes received', async () => {
    const layout = await dirs.make();
    await writeOciLayout(layout, { own: ownImage });
    const queries = {
      put: 'regctl_http_requests_total{repository="all",route="manifest",method="PUT",status="201"}',
      received: 'regctl_http_request_bytes_total{repository="all"}',
    };
    const before = await scraped(queries);
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:own`, `docker://${server.host}/own:v1`]);
    const moved = delta(before, await scraped(queries));
    const blobBytes = [ownImage.config, ...ownImage.layers].reduce((sum, b) => sum + b.bytes.length, 0);
    expect(moved.put).toBe(1);
    expect(moved.received).toBe(blobBytes + ownImage.manifest.bytes.length);
  });

  it('pulls through the proxy twice: one miss then one hit, upstream bytes equal the blob sizes', async () => {
    const blobs = [upstreamImage.config, ...upstreamImage.layers];
    const blobBytes = blobs.reduce((sum, b) => sum + b.bytes.length, 0);
    const queries = {
      manifestMiss: 'regctl_proxy_cache_requests_total{repository="hub",kind="manifest",result="miss"}',
      manifestHit: 'regctl_proxy_cache_requests_total{repository="hub",kind="manifest",result="hit"}',
      blobMiss: 'regctl_proxy_cache_requests_total{repository="hub",kind="blob",result="miss"}',
      blobHit: 'regctl_proxy_cache_requests_total{repository="hub",kind="blob",result="hit"}',
      blobBytes: 'regctl_upstream_bytes_total{upstream="hub",kind="blob"}',
      manifestBytes: 'regctl_upstream_bytes_total{upstream="hub",kind="manifest"}',
      upstreamGets: 'sum(regctl_upstream_requests_total{upstream="hub",method="GET",status="200"})',
      upstreamAll: 'sum(regctl_upstream_requests_total{upstream="hub"})',
      upstreamTimed: 'sum(regctl_upstream_request_duration_seconds_count{upstream="hub"})',
      sent: 'regctl_http_response_bytes_total{repository="hub"}',
      p99: 'histogram_quantile(0.99, sum by (le) (rate(regctl_http_request_duration_seconds_bucket{repository="hub"}[1m])))',
    };
    const before = await scraped(queries);
    const distributionGets = distribution.countRequests(/GET \/v2\/team\/app\/(blobs|manifests)\//);
    const pull = async () => {
      const out = await dirs.make();
      await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/hub/team/app:v1`, `oci:${out}:a`]);
    };
    await pull();
    const first = delta(before, await scraped(queries));
    expect(first).toMatchObject({
      manifestMiss: 1,
      manifestHit: 0,
      blobMiss: blobs.length,
      blobHit: 0,
      blobBytes,
      manifestBytes: upstreamImage.manifest.bytes.length,
      upstreamGets: 1 + blobs.length,
    });
    expect(first.upstreamTimed).toBe(first.upstreamAll);
    await pull();
    const second = delta(before, await scraped(queries));
    expect(second).toMatchObject({
      manifestMiss: 1,
      manifestHit: 1,
      blobMiss: blobs.length,
      blobHit: blobs.length,
      blobBytes,
      upstreamGets: 1 + blobs.length,
    });
    // What regctl sent to skopeo: both pulls' blobs and manifests.
    expect(second.sent).toBe(2 * (blobBytes + upstreamImage.manifest.bytes.length));
    // The real upstream agrees: nothing more was fetched by the second pull.
    expect(distribution.countRequests(/GET \/v2\/team\/app\/(blobs|manifests)\//) - distributionGets).toBe(
      1 + blobs.length,
    );
    expect(second.p99).toBeGreaterThan(0);
  });

  it('reads through the group count the member that answered', async () => {
    const queries = {
      hub: 'regctl_group_member_hits_total{group="all",member="hub"}',
      local: 'regctl_group_member_hits_total{group="all",member="local"}',
      fake: 'regctl_group_member_hits_total{group="all",member="fake"}',
    };
    const before = await scraped(queries);
    const get = async (path: string, accept?: string) => {
      const response = await fetch(`${server.url}/v2/${path}`, accept === undefined ? {} : { headers: { accept } });
      await response.arrayBuffer();
      expect(response.status, path).toBe(200);
    };
    // No routing prefix: the listener's repository is the group `all` (local, hub, fake).
    await get('team/app/manifests/v1', upstreamImage.mediaType); // hub (cached by the pulls above)
    await get(`team/app/blobs/${upstreamImage.config.digest}`); // hub
    await get('own/manifests/v1', ownImage.mediaType); // local (pushed through the group)
    expect(delta(before, await scraped(queries))).toEqual({ hub: 2, local: 1, fake: 0 });
  });

  it('per credential: an upstream behind Basic auth shows its quota under its user; revalidations, stale', async () => {
    const queries = {
      remaining: 'regctl_upstream_ratelimit_remaining{upstream="quota",credential="puller"}',
      limit: 'regctl_upstream_ratelimit_limit{upstream="quota",credential="puller"}',
      gauges: 'count(regctl_upstream_ratelimit_remaining{upstream="quota"})',
      miss: 'regctl_proxy_cache_requests_total{repository="quota",kind="manifest",result="miss"}',
      hit: 'regctl_proxy_cache_requests_total{repository="quota",kind="manifest",result="hit"}',
      stale: 'regctl_proxy_cache_requests_total{repository="quota",kind="manifest",result="stale"}',
      unchanged: 'regctl_proxy_revalidations_total{repository="quota",result="unchanged"}',
      failed: 'regctl_proxy_revalidations_total{repository="quota",result="failed"}',
    };
    const before = await scraped(queries);
    const get = async () => {
      const response = await fetch(`${server.url}/v2/quota/lib/quota/manifests/v1`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(quotaImage.manifest)).toBe(true);
    };
    await get(); // miss: fetched with the credentials
    await get(); // metadataMaxAge 0: checked upstream, unchanged, served from the cache
    quota.faults.rateLimit = '1';
    await get(); // the check is refused (429): the cached copy is served stale
    quota.faults.rateLimit = undefined;
    expect(delta(before, await scraped(queries))).toEqual({
      remaining: 42,
      limit: 200,
      gauges: 1,
      miss: 1,
      hit: 1,
      stale: 1,
      unchanged: 1,
      failed: 1,
    });
    const status = (await (await fetch(`${server.url}/-/status`)).json()) as {
      upstreams: {
        name: string;
        rateLimitRemaining: number | null;
        lastErrorAt: string | null;
        lastError: string | null;
      }[];
    };
    const upstream = status.upstreams.find((u) => u.name === 'quota')!;
    expect(upstream).toMatchObject({ rateLimitRemaining: 42, rateLimitLimit: 200 });
    expect(Date.parse(upstream.lastErrorAt!)).toBeGreaterThan(Date.now() - 60_000);
    expect(upstream.lastError).toMatch(/429|rate/i);
    const text = await metricsText(metricsPort);
    expect(text).not.toContain(QUOTA_USER.password);
  });

  it('an upload body being received counts in regctl_uploads_in_progress until it ends', async () => {
    const gauge = 'regctl_uploads_in_progress{repository="local"}';
    const opened = await fetch(`${server.url}/v2/local/slow-upload/blobs/uploads/`, { method: 'POST' });
    expect(opened.status).toBe(202);
    const location = new URL(opened.headers.get('location')!, server.url);
    const patch = httpRequest(location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
    });
    const answered = new Promise<number>((resolve, reject) => {
      patch.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      patch.on('error', reject);
    });
    patch.write(Buffer.alloc(64 * 1024, 1));
    await waitUntil(async () => (await scraped({ gauge })).gauge === 1, 'the upload counted in progress');
    patch.end(Buffer.alloc(64 * 1024, 2));
    expect(await answered).toBe(202);
    await waitUntil(async () => (await scraped({ gauge })).gauge === 0, 'the upload no longer in progress');
  });

  it('N concurrent cold pulls of one blob: one upstream fetch, N-1 coalesced', async () => {
    const N = 6;
    const queries = {
      coalesced: 'regctl_proxy_coalesced_total{repository="fake",kind="blob"}',
      miss: 'regctl_proxy_cache_requests_total{repository="fake",kind="blob",result="miss"}',
      bytes: 'regctl_upstream_bytes_total{upstream="fake",kind="blob"}',
    };
    const before = await scraped(queries);
    fake.faults.chunkDelayMs = 25; // 16 chunks: the fetch lasts ~0.4 s, every request joins it
    const url = `${server.url}/v2/fake/lib/slow/blobs/${slowLayer.digest}`;
    const bodies = await Promise.all(
      Array.from({ length: N }, async () => Buffer.from(await (await fetch(url)).arrayBuffer())),
    );
    fake.faults.chunkDelayMs = 0;
    for (const body of bodies) expect(body.equals(slowLayer.bytes)).toBe(true);
    expect(fake.count('GET', `/blobs/${slowLayer.digest}`)).toBe(1);
    expect(delta(before, await scraped(queries))).toEqual({ coalesced: N - 1, miss: N, bytes: slowLayer.bytes.length });
  });

  it("shows the fake upstream's ratelimit-remaining: 97;w=21600 as the gauge 97, and in /-/status", async () => {
    await scraped({});
    expect(await prometheus.value('regctl_upstream_ratelimit_remaining{upstream="fake",credential="anonymous"}')).toBe(
      97,
    );
    expect(await prometheus.value('regctl_upstream_ratelimit_limit{upstream="fake"}')).toBe(100);
    expect(await prometheus.value('regctl_upstream_ratelimit_window_seconds{upstream="fake"}')).toBe(21600);
    const status = (await (await fetch(`${server.url}/-/status`)).json()) as {
      upstreams: { name: string; rateLimitRemaining: number | null; lastSuccessAt: string | null; url: string }[];
    };
    const upstream = status.upstreams.find((u) => u.name === 'fake');
    expect(upstream).toMatchObject({ url: fake.url, rateLimitRemaining: 97, rateLimitLimit: 100 });
    expect(Date.parse(upstream!.lastSuccessAt!)).toBeGreaterThan(Date.now() - 120_000);
    // Cheap: answered from memory, nothing sent upstream.
    const upstreamRequests = fake.requests.length + quota.requests.length + distribution.countRequests(/./);
    for (let i = 0; i < 20; i++) expect((await fetch(`${server.url}/-/status`)).status).toBe(200);
    expect(fake.requests.length + quota.requests.length + distribution.countRequests(/./)).toBe(upstreamRequests);
  });

  it('labels only plan names: a flood of distinct image names and tags adds no series', async () => {
    const requests = (round: string, i: number) => {
      const name = `flood/name-${round}-${i}`;
      const tag = `tag-${round}-${i}`;
      const digest = `sha256:${createHash('sha256').update(name).digest('hex')}`;
      return [
        `hub/${name}/manifests/${tag}`, // proxy: miss, upstream 404, then negative
        `local/${name}/manifests/${tag}`,
        `local/${name}/blobs/${digest}`,
        `local/${name}/tags/list`,
        `${name}/manifests/${tag}`, // the group: every member asked
        `${name}/blobs/uploads/`, // POST below: an upload opened under a new name
      ];
    };
    // One name's requests in order (so each name takes the same paths through the caches), names
    // six at a time.
    const send = async (round: string, names: number) => {
      for (let first = 0; first < names; first += 6) {
        await Promise.all(
          Array.from({ length: Math.min(6, names - first) }, async (_, k) => {
            for (const path of requests(round, first + k)) {
              for (const method of path.endsWith('/uploads/') ? ['POST'] : ['GET', 'HEAD']) {
                const response = await fetch(`${server.url}/v2/${path}`, { method });
                await response.arrayBuffer();
              }
            }
          }),
        );
      }
    };
    const regctlSeries = (text: string) => text.split('\n').filter((line) => line.startsWith('regctl_')).length;
    await send('warm', 2); // every shape once: its series exist
    const stored = 'count({__name__=~"regctl_.+"})';
    const before = { text: regctlSeries(await metricsText(metricsPort)), stored: (await scraped({ stored })).stored };
    await send('flood', 60);
    const text = await metricsText(metricsPort);
    expect(regctlSeries(text)).toBe(before.text);
    expect((await scraped({ stored })).stored).toBe(before.stored);
    expect(text).not.toMatch(/flood|name-|tag-warm|team\/app|lib\/slow|lib\/quota/);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^regctl_plan_info\{plan_id="[0-9a-f]{64}",revision=""\} 1$/m);
    // The registry's own listener serves no metrics.
    const onRegistry = await fetch(`${server.url}/metrics`);
    expect(onRegistry.status).toBe(404);
    expect(await onRegistry.text()).not.toContain('regctl_');
  });

  it('an unknown image through the proxy: one upstream 404 counted as not_found, then a negative hit', async () => {
    const queries = {
      notFound: 'regctl_upstream_errors_total{upstream="hub",kind="not_found"}',
      miss: 'regctl_proxy_cache_requests_total{repository="hub",kind="manifest",result="miss"}',
      negative: 'regctl_proxy_cache_requests_total{repository="hub",kind="manifest",result="negative"}',
      upstream404: 'sum(regctl_upstream_requests_total{upstream="hub",status="404"})',
    };
    const before = await scraped(queries);
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${server.url}/v2/hub/no/such-image/manifests/missing-tag`);
      await response.arrayBuffer();
      expect(response.status).toBe(404);
    }
    expect(delta(before, await scraped(queries))).toEqual({ notFound: 1, miss: 1, negative: 1, upstream404: 1 });
  });

  it("every query of the Grafana dashboard runs in Prometheus; the issue's panels show data", async () => {
    const dashboard = JSON.parse(await readFile(`${REPO_ROOT}/deploy/grafana/regctl-dashboard.json`, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    await scraped({});
    const withData: string[] = [];
    for (const panel of dashboard.panels) {
      let shows = false;
      for (const { expr } of panel.targets) {
        const query = expr
          .replaceAll('$instance', '.*')
          .replaceAll('$repository', '.*')
          .replaceAll('$__rate_interval', '1m')
          .replaceAll('$__range', '5m');
        // A query Prometheus cannot parse or evaluate throws here.
        const series = await prometheus.series(query);
        if (series.some((s) => Number.isFinite(s.value))) shows = true;
      }
      if (shows) withData.push(panel.title);
    }
    for (const title of [
      'Proxy cache hit ratio',
      'Upstream bandwidth',
      'Upstream pull quota left (Docker Hub)',
      'Latency percentiles (manifest and blob)',
      'Upstream errors by kind',
      'Group members answering',
    ]) {
      expect(withData).toContain(title);
    }
  });

  it('a reload removes the series of a removed upstream, keeps counting the others, moves the port, closes it without metrics', async () => {
    const hubHits = 'regctl_proxy_cache_requests_total{repository="hub",kind="manifest",result="hit"}';
    const before = (await metricsText(metricsPort)).match(new RegExp(`^${escapeRegExp(hubHits)} (\\d+)$`, 'm'))?.[1];
    expect(Number(before)).toBeGreaterThan(0);
    const status = async () => (await (await fetch(`${server.url}/-/status`)).json()) as { planId: string };
    /** Writes the config of `options`, signals, and waits until its plan serves. */
    const reload = async (options: Parameters<typeof config>[0], what: string) => {
      const serving = (await status()).planId;
      await writeFile(server.configFile, configSource(config(options) as ConfigInput));
      process.kill(server.pid(), 'SIGHUP');
      await waitUntil(async () => (await status()).planId !== serving, what);
    };
    const planBefore = (await status()).planId;
    await reload({ withFake: false, metricsPort }, 'the reload without the fake upstream');
    const text = await metricsText(metricsPort);
    expect(text).not.toMatch(/upstream="fake"|repository="fake"/);
    expect(text).toContain(`${hubHits} ${before}`);
    expect(text).toMatch(/^regctl_reloads_total\{outcome="applied"\} 1$/m);
    expect(text).toMatch(/^regctl_reload_duration_seconds_count 1$/m);
    expect(text).toMatch(/^regctl_config_in_sync 1$/m);
    expect(text).toContain(`regctl_upstream_info{upstream="hub",url="${distribution.url}"} 1`);
    expect(text).toMatch(new RegExp(`^regctl_plan_info\\{plan_id="${(await status()).planId}",revision=""\\} 1$`, 'm'));
    expect(text).not.toContain(planBefore);

    const movedPort = await freePort();
    await reload({ withFake: false, metricsPort: movedPort }, 'the reload moving the metrics port');
    expect(await metricsText(movedPort)).toContain(`${hubHits} ${before}`);
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
    expect(await readFile(server.logFile, 'utf8')).toContain('metrics listening');

    // Without `metrics` there is no listener at all.
    await reload({ withFake: false, metricsPort: undefined }, 'the reload without metrics');
    await expect(fetch(`http://127.0.0.1:${movedPort}/metrics`)).rejects.toThrow();
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
