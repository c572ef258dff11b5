import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { parseRateLimit } from '../../../runtime/metrics/rate-limit.ts';
import { RegistryMetrics } from '../../../runtime/metrics/registry-metrics.ts';

function plan(repositories: string[], metrics = true): Plan {
  return {
    id: `plan-${repositories.join('-')}`,
    version: 1,
    blobStores: {},
    repositories: Object.fromEntries(
      repositories.map((name) => [
        name,
        {
          name,
          type: 'proxy',
          online: true,
          blobStore: 'default',
          access: { anonymous: ['pull'] },
          remote: { url: `https://${name}.example`, index: 'registry', auth: null, timeoutMs: 1000 },
          metadataMaxAgeMs: 1000,
          negativeCacheTtlMs: 1000,
          offline: false,
          httpProxy: null,
        },
      ]),
    ),
    listeners: [],
    security: {
      realm: 'r',
      users: [],
      roles: {},
      token: { enabled: false, issuer: 'i', service: 's', ttlMs: 1000, signingKey: null },
    },
    ...(metrics ? { metrics: { host: '127.0.0.1', port: 9464 } } : {}),
  } as Plan;
}

const sample = (repository: string) => ({
  repository,
  method: 'GET',
  route: 'manifest',
  status: 200,
  seconds: 0.001,
  bytesSent: 10,
  bytesReceived: 0,
});

describe('RegistryMetrics', () => {
  it('records nothing while the plan has no metrics section', async () => {
    const metrics = new RegistryMetrics();
    metrics.applyPlan(plan(['a'], false));
    metrics.httpRequest(sample('a'));
    metrics.proxy('a', 'anonymous').cache('blob', 'hit');
    const text = (await metrics.render()).body;
    expect(text).not.toMatch(/^regctl_http_requests_total\{/m);
    expect(text).not.toMatch(/^regctl_proxy_cache_requests_total\{/m);
  });

  it('keeps counting across plans, drops the series of removed repositories, and never revives them', async () => {
    const metrics = new RegistryMetrics();
    metrics.applyPlan(plan(['a', 'b']));
    const b = metrics.proxy('b', 'anonymous');
    metrics.httpRequest(sample('a'));
    metrics.httpRequest(sample('b'));
    b.cache('manifest', 'miss');
    b.upstream.rateLimit(100, 97, 21600);
    metrics.applyPlan(plan(['a']));
    metrics.httpRequest(sample('a'));
    // A request of the old plan ending after the reload, and the old proxy's late upstream answer.
    metrics.httpRequest(sample('b'));
    b.upstream.rateLimit(100, 96, 21600);
    const text = (await metrics.render()).body;
    expect(text).toMatch(
      /^regctl_http_requests_total\{repository="a",method="GET",route="manifest",status="200"\} 2$/m,
    );
    expect(text).toMatch(/^regctl_http_requests_total\{repository="",method="GET",route="manifest",status="200"\} 1$/m);
    expect(text).not.toMatch(/repository="b"|upstream="b"/);
    expect(text).toMatch(/^regctl_plan_info\{plan_id="plan-a",revision=""\} 1$/m);
    expect(text).not.toContain('plan-a-b');
  });

  it('an upload gauge ends once, whatever the plan did meanwhile', async () => {
    const metrics = new RegistryMetrics();
    metrics.applyPlan(plan(['a']));
    const done = metrics.uploadStarted('a');
    expect((await metrics.render()).body).toMatch(/^regctl_uploads_in_progress\{repository="a"\} 1$/m);
    done();
    done();
    expect((await metrics.render()).body).toMatch(/^regctl_uploads_in_progress\{repository="a"\} 0$/m);
    metrics.applyPlan(plan(['a'], false));
    expect(metrics.uploadStarted('a')).toBeTypeOf('function');
  });
});

describe('RegistryMetrics label names', () => {
  /** Each label's values come from the plan or a fixed list, never from a request's image name or tag. */
  const BOUNDED = new Set([
    'repository', // plan repository names ('' for a request of a replaced plan)
    'upstream', // proxy repository names
    'group',
    'member',
    'credential', // the configured user name, env:NAME or anonymous
    'url', // configured remote and mirror URLs
    'endpoint', // webhook names
    'blob_store',
    'plan_id',
    'revision',
    'method',
    'route',
    'status',
    'kind',
    'result',
    'state',
    'reason',
    'outcome',
    'how',
  ]);

  it('every metric is labelled only by names bounded by the plan or a fixed list', async () => {
    const metrics = new RegistryMetrics();
    for (const { name } of await metrics.registry.getMetricsAsJSON()) {
      const labels = (metrics.registry.getSingleMetric(name) as unknown as { labelNames?: string[] }).labelNames ?? [];
      for (const label of labels) expect(BOUNDED.has(label), `${name}{${label}}`).toBe(true);
    }
  });

  it('an unknown HTTP method is counted as other', async () => {
    const metrics = new RegistryMetrics();
    metrics.applyPlan(plan(['a']));
    metrics.httpRequest({ ...sample('a'), method: 'PROPFIND-xyz' });
    const text = (await metrics.render()).body;
    expect(text).toMatch(
      /^regctl_http_requests_total\{repository="a",method="other",route="manifest",status="200"\} 1$/m,
    );
    expect(text).not.toContain('PROPFIND');
  });
});

describe('RegistryMetrics storage figures', () => {
  const withStores = (repositories: string[], stores: string[], metrics = true): Plan => {
    const base = plan(repositories, metrics);
    const capped = Object.fromEntries(
      Object.entries(base.repositories).map(([name, r]) => [name, name === 'a' ? { ...r, maxSizeBytes: 1000 } : r]),
    );
    return { ...base, repositories: capped, blobStores: Object.fromEntries(stores.map((s) => [s, {}])) } as Plan;
  };
  const figures = {
    usage: [
      {
        store: 'default',
        blobs: 3,
        bytes: 300,
        measuredAt: '2026-12-06T10:00:00.000Z',
        repositories: [
          { repository: 'a', bytes: 200 },
          { repository: 'gone', bytes: 50 },
        ],
      },
      { store: 'old', blobs: 1, bytes: 7, measuredAt: '2026-12-06T10:00:00.000Z', repositories: [] },
    ],
    caches: [
      { repository: 'a', usedBytes: 200 },
      { repository: 'gone', usedBytes: 50 },
    ],
  };

  it("reads usage at scrape time, only under the plan's store and repository names", async () => {
    const metrics = new RegistryMetrics();
    let reads = 0;
    metrics.storage.watch(() => {
      reads++;
      return figures;
    });
    metrics.applyPlan(withStores(['a', 'b'], ['default']));
    expect(reads).toBe(0);
    const text = (await metrics.render()).body;
    expect(reads).toBeGreaterThan(0);
    expect(text).toMatch(/^regctl_blob_store_bytes\{blob_store="default"\} 300$/m);
    expect(text).toMatch(/^regctl_blob_store_blobs\{blob_store="default"\} 3$/m);
    expect(text).toMatch(/^regctl_blob_store_measured_timestamp_seconds\{blob_store="default"\} 1796551200$/m);
    expect(text).toMatch(/^regctl_repository_bytes\{repository="a"\} 200$/m);
    expect(text).toMatch(/^regctl_proxy_cache_bytes\{repository="a"\} 200$/m);
    expect(text).toMatch(/^regctl_proxy_cache_max_bytes\{repository="a"\} 1000$/m);
    expect(text).not.toMatch(/blob_store="old"|repository="gone"|regctl_proxy_cache_max_bytes\{repository="b"/);
  });

  it('counts passes by outcome, and forgets a store the plan dropped', async () => {
    const metrics = new RegistryMetrics();
    metrics.applyPlan(withStores(['a'], ['default', 'other']));
    const run = { at: '2026-12-06T10:00:00.000Z', durationMs: 1500, reclaimedBytes: 40 };
    metrics.storage.gcRun({ store: 'default', ...run });
    metrics.storage.gcRun({ store: 'default', ...run, reclaimedBytes: 2 });
    metrics.storage.gcRun({ store: 'default', ...run, reclaimedBytes: 0, skipped: 'lease held by x' });
    metrics.storage.gcRun({ store: 'other', ...run, reclaimedBytes: 0, error: 'boom' });
    metrics.storage.gcRun({ store: 'unknown', ...run });
    let text = (await metrics.render()).body;
    expect(text).toMatch(/^regctl_gc_runs_total\{blob_store="default",outcome="ok"\} 2$/m);
    expect(text).toMatch(/^regctl_gc_runs_total\{blob_store="default",outcome="skipped"\} 1$/m);
    expect(text).toMatch(/^regctl_gc_runs_total\{blob_store="other",outcome="failed"\} 1$/m);
    expect(text).toMatch(/^regctl_gc_reclaimed_bytes_total\{blob_store="default"\} 42$/m);
    expect(text).toMatch(/^regctl_gc_last_run_timestamp_seconds\{blob_store="default"\} 1796551201.5$/m);
    expect(text).not.toContain('unknown');
    metrics.applyPlan(withStores(['a'], ['default']));
    text = (await metrics.render()).body;
    expect(text).not.toContain('blob_store="other"');
    expect(text).toMatch(/^regctl_gc_runs_total\{blob_store="default",outcome="ok"\} 2$/m);
  });

  it('exports no storage figures while the plan has no metrics section', async () => {
    const metrics = new RegistryMetrics();
    metrics.storage.watch(() => figures);
    metrics.applyPlan(withStores(['a'], ['default'], false));
    metrics.storage.gcRun({ store: 'default', at: '2026-12-06T10:00:00.000Z', durationMs: 1, reclaimedBytes: 1 });
    const text = (await metrics.render()).body;
    expect(text).not.toMatch(/^regctl_(blob_store|repository|proxy_cache|gc)_\w+\{/m);
  });
});

describe('parseRateLimit', () => {
  it('reads Docker Hub quota headers', () => {
    expect(parseRateLimit('97;w=21600')).toEqual({ value: 97, windowSeconds: 21600 });
    expect(parseRateLimit('100')).toEqual({ value: 100 });
    expect(parseRateLimit(' 5 ; w = 60')).toEqual({ value: 5, windowSeconds: 60 });
    expect(parseRateLimit('many')).toBeUndefined();
    expect(parseRateLimit(undefined)).toBeUndefined();
  });
});
