/**
 * The cost of the Prometheus metrics: manifest GET by tag (wrk, 8 connections) on two `regctl
 * serve` processes that differ only in `metrics` — absent on one, on (and scraped every second,
 * as Prometheus would) on the other. Paired rounds, the order alternating; the figure is the
 * median over rounds of on ÷ off, for req/s and for the server's CPU time per request (read from
 * /proc, less noisy than wall-clock rates on a shared machine).
 *
 *   node bin/run-ts.mjs bench/metrics.ts [--rounds 7] [--seconds 4]
 */
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { buildImage } from '../test/helpers/oci-image.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { median, pairedRatio } from './lib/rounds.ts';
import { runWrk } from './lib/wrk.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, seconds: { type: 'string', default: '4' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
requireBinary('wrk', 'wrk');

const image = buildImage({ layers: 1, layerSize: 1024, seed: 'bench-metrics' });
const dirs = new TmpDirs();

function config(metricsPort: number | undefined): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [{ name: 'open', type: 'hosted', anonymous: ['pull', 'push'] }],
    listeners: [{ host: '127.0.0.1', repository: 'open' }],
    ...(metricsPort === undefined ? {} : { metrics: { host: '127.0.0.1', port: metricsPort } }),
  };
}

async function push(server: RegctlServer): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    const response = await fetch(`${server.url}/v2/app/blobs/uploads/?digest=${blob.digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: blob.bytes,
    });
    if (response.status !== 201) throw new Error(`blob push answered ${response.status}`);
  }
  const response = await fetch(`${server.url}/v2/app/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  if (response.status !== 201) throw new Error(`manifest push answered ${response.status}`);
}

const metricsPort = await freePort();
const servers = {
  off: await startRegctl({ dir: await dirs.make(), config: config(undefined) }),
  on: await startRegctl({ dir: await dirs.make(), config: config(metricsPort) }),
};
let scraping = true;
let scrapes = 0;
const scraper = (async () => {
  while (scraping) {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    await response.text();
    scrapes++;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
})();
try {
  for (const server of Object.values(servers)) await push(server);
  const figures = {
    off: { rps: [] as number[], cpu: [] as number[] },
    on: { rps: [] as number[], cpu: [] as number[] },
  };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const side of order) {
      const server = servers[side];
      const result = await runWrk({
        origin: server.url,
        method: 'GET',
        path: '/v2/app/manifests/v1',
        headers: { accept: image.mediaType },
        connections: 8,
        seconds,
        warmupSeconds: 1,
        cpuOf: server.pid(),
      });
      if (result.errors > 0) throw new Error(`${side}: ${result.errors} failed requests`);
      figures[side].rps.push(result.rps);
      figures[side].cpu.push(((result.serverCpuSeconds ?? Number.NaN) / result.requests) * 1e6);
      console.log(
        `round ${round + 1} ${side.padEnd(3)}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ` +
          `${(((result.serverCpuSeconds ?? 0) / result.requests) * 1e6).toFixed(1)} µs CPU/request`,
      );
    }
  }
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const counted =
    /regctl_http_requests_total\{repository="open",method="GET",route="manifest",status="200"\} (\d+)/.exec(text)?.[1];
  console.log('');
  console.log(
    `manifest GET by tag, 8 connections, ${rounds} paired rounds of ${seconds} s, /metrics scraped every 1 s`,
  );
  console.log(
    `  metrics off: median ${median(figures.off.rps).toFixed(0)} req/s, ${median(figures.off.cpu).toFixed(1)} µs CPU/request`,
  );
  console.log(
    `  metrics on:  median ${median(figures.on.rps).toFixed(0)} req/s, ${median(figures.on.cpu).toFixed(1)} µs CPU/request`,
  );
  console.log(
    `  on ÷ off, req/s (median of paired rounds): ${pairedRatio(figures.on.rps, figures.off.rps).toFixed(3)}×`,
  );
  console.log(`  on ÷ off, CPU per request: ${pairedRatio(figures.on.cpu, figures.off.cpu).toFixed(3)}×`);
  console.log(`  requests counted by regctl_http_requests_total: ${counted}; scrapes: ${scrapes}`);
} finally {
  scraping = false;
  await scraper.catch(() => undefined);
  await Promise.all(Object.values(servers).map((server) => server.stop()));
  await dirs.cleanup();
}
