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

describe('parseRateLimit', () => {
  it('reads Docker Hub quota headers', () => {
    expect(parseRateLimit('97;w=21600')).toEqual({ value: 97, windowSeconds: 21600 });
    expect(parseRateLimit('100')).toEqual({ value: 100 });
    expect(parseRateLimit(' 5 ; w = 60')).toEqual({ value: 5, windowSeconds: 60 });
    expect(parseRateLimit('many')).toBeUndefined();
    expect(parseRateLimit(undefined)).toBeUndefined();
  });
});
