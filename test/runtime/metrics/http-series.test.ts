import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HttpSeries } from '../../../runtime/metrics/http-series.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const METHODS = ['GET', 'PUT', 'other'];

/** Exposition lines sorted, each line's labels sorted: order is not part of the format. */
function normalise(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)(?:\{(.*)\})? (.+)$/.exec(line);
      if (!match) return line;
      const labels = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${match[1]}{${labels}} ${match[3]}`;
    })
    .sort();
}

const requests: Array<[string, string, string, number, number, number, number]> = [
  ['a', 'GET', 'manifest', 200, 0.0004, 512, 0],
  ['a', 'GET', 'manifest', 200, 0.001, 512, 0],
  ['a', 'GET', 'manifest', 404, 0.02, 0, 0],
  ['a', 'PUT', 'manifest', 201, 0.3, 0, 900],
  ['a', 'GET', 'blob', 200, 7, 1 << 20, 0],
  ['', 'other', 'base', 405, 0.002, 0, 0],
  ['b', 'GET', 'tags', 200, 0.05, 30, 0],
];

describe('HttpSeries', () => {
  it("renders exactly what prom-client's own counters and histogram render for the same requests", async () => {
    const local = new Registry();
    const series = new HttpSeries(local, { buckets: BUCKETS, methods: METHODS });
    const reference = new Registry();
    const registers = [reference];
    const total = new Counter({
      name: 'regctl_http_requests_total',
      help: 'x',
      labelNames: ['repository', 'method', 'route', 'status'],
      registers,
    });
    const duration = new Histogram({
      name: 'regctl_http_request_duration_seconds',
      help: 'x',
      labelNames: ['repository', 'route'],
      buckets: BUCKETS,
      registers,
    });
    const sent = new Counter({
      name: 'regctl_http_response_bytes_total',
      help: 'x',
      labelNames: ['repository'],
      registers,
    });
    const received = new Counter({
      name: 'regctl_http_request_bytes_total',
      help: 'x',
      labelNames: ['repository'],
      registers,
    });
    for (const [repository, method, route, status, seconds, bytesSent, bytesReceived] of requests) {
      series.record(repository, method, { route, status, seconds, bytesSent, bytesReceived });
      total.labels(repository, method, route, String(status)).inc();
      duration.labels(repository, route).observe(seconds);
      if (bytesSent > 0) sent.labels(repository).inc(bytesSent);
      if (bytesReceived > 0) received.labels(repository).inc(bytesReceived);
    }
    const rendered = normalise(await local.metrics());
    expect(rendered).toEqual(normalise(await reference.metrics()));
    expect(rendered).toContain(
      'regctl_http_request_duration_seconds_bucket{le="0.001",repository="a",route="manifest"} 2',
    );
    expect(rendered).toContain('regctl_http_request_duration_seconds_bucket{le="+Inf",repository="a",route="blob"} 1');
    expect(rendered).toContain(
      'regctl_http_requests_total{method="GET",repository="a",route="manifest",status="200"} 2',
    );
    // A scrape reads; it does not reset what the next scrape sees.
    expect(normalise(await local.metrics())).toEqual(rendered);
  });

  it('drops the series of pruned repositories, keeps "" and the kept ones, and counts on', async () => {
    const registry = new Registry();
    const series = new HttpSeries(registry, { buckets: BUCKETS, methods: METHODS });
    for (const repository of ['a', 'b', '']) {
      series.record(repository, 'GET', { route: 'blob', status: 200, seconds: 0.005, bytesSent: 10, bytesReceived: 0 });
    }
    series.prune(new Set(['a']));
    series.record('a', 'GET', { route: 'blob', status: 200, seconds: 0.005, bytesSent: 10, bytesReceived: 0 });
    const text = await registry.metrics();
    expect(text).not.toContain('repository="b"');
    expect(text).toMatch(/^regctl_http_requests_total\{repository="a",method="GET",route="blob",status="200"\} 2$/m);
    expect(text).toMatch(/^regctl_http_response_bytes_total\{repository="a"\} 20$/m);
    expect(text).toMatch(/^regctl_http_request_duration_seconds_count\{repository="",route="blob"\} 1$/m);
    expect(text).not.toMatch(/^regctl_http_request_bytes_total\{/m);
  });
});
