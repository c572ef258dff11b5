/**
 * A real Prometheus (Debian's `prometheus` 2.42) on loopback, scraping given targets every
 * `intervalSeconds`, for end-to-end tests of the metrics endpoint: what the test asserts is what
 * Prometheus scraped, parsed and stored, queried through its HTTP API.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { requireBinary, spawnLogged, stopChild, waitForHttp, waitUntil } from './process.ts';

export interface Prometheus {
  readonly url: string;
  /** The value of an instant query that returns one series (0 when it returns none). */
  value(query: string): Promise<number>;
  /** Every series of an instant query, as labels and value. */
  series(query: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  /** Waits until the job's target was scraped at or after `time` (ms since epoch), and is up. */
  scrapedAfter(time: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: {
  dir: string;
  /** `host:port` targets of the job `regctl`. */
  targets: readonly string[];
  intervalSeconds?: number;
}): Promise<Prometheus> {
  const binary = requireBinary('prometheus', 'prometheus');
  const port = await freePort();
  const interval = options.intervalSeconds ?? 1;
  const config = join(options.dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      `  scrape_interval: ${Math.round(interval * 1000)}ms`,
      `  scrape_timeout: ${Math.round(interval * 1000)}ms`,
      'scrape_configs:',
      '  - job_name: regctl',
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}`;
  const child = spawnLogged(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    join(options.dir, 'prometheus.log'),
  );
  await waitForHttp(`${url}/-/ready`, { timeoutMs: 30_000 });

  const query = async (expression: string) => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`prometheus query ${expression} failed: ${body.error}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    series: query,
    async value(expression) {
      const result = await query(expression);
      if (result.length > 1) throw new Error(`${expression} returned ${result.length} series, not one`);
      return result[0]?.value ?? 0;
    },
    async scrapedAfter(time) {
      await waitUntil(
        async () => {
          const result = await query('timestamp(up{job="regctl"}) and up{job="regctl"} == 1');
          return result.length === options.targets.length && result.every((r) => r.value * 1000 >= time);
        },
        `prometheus scraped the targets after ${new Date(time).toISOString()}`,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
    },
    async stop() {
      await stopChild(child);
    },
  };
}
