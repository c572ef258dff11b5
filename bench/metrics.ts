/**
 * The cost of the Prometheus metrics: manifest GET by tag (wrk, 8 connections) on two `regctl
 * serve` processes that differ only in `metrics` — absent on one, on (and scraped every second,
 * as Prometheus would) on the other. Paired rounds, the order alternating; the figure is the
 * median over rounds of on ÷ off, for req/s and for the server's CPU time per request (read from
 * /proc, less noisy than wall-clock rates on a shared machine).
 *
 * `--control` runs the same rounds with metrics off on both processes (an A/A run): how far two
 * identical servers drift apart on this machine, the noise floor of the figure.
 *
 * `--compare DIR` adds a third process, metrics on, served from another checkout of regctl (a
 * `git worktree` of an older commit, with its node_modules): the rounds then rotate the order of the
 * three, and the figures of both "on" sides are against the same "off" rounds.
 *
 *   node bin/run-ts.mjs bench/metrics.ts [--rounds 7] [--seconds 4] [--compare DIR] [--control]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { buildImage } from '../test/helpers/oci-image.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { median, pairedRatio } from './lib/rounds.ts';
import { runWrk } from './lib/wrk.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '4' },
    compare: { type: 'string' },
    control: { type: 'boolean', default: false },
  },
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

type Side = 'off' | 'on' | 'compared';
const metricsPorts: Partial<Record<Side, number>> = values.control ? {} : { on: await freePort() };
const servers: Partial<Record<Side, RegctlServer>> = {
  off: await startRegctl({ dir: await dirs.make(), config: config(undefined) }),
  on: await startRegctl({ dir: await dirs.make(), config: config(metricsPorts.on) }),
};
if (values.compare !== undefined) {
  // The other checkout's own helper, so its launcher and sources serve.
  const helper = join(resolve(values.compare), 'test/helpers/regctl-server.ts');
  const other = (await import(helper)) as { startRegctl: typeof startRegctl };
  metricsPorts.compared = await freePort();
  servers.compared = await other.startRegctl({ dir: await dirs.make(), config: config(metricsPorts.compared) });
}
const sides = Object.keys(servers) as Side[];
let scraping = true;
let scrapes = 0;
const scrapers = Object.values(metricsPorts).map(async (port) => {
  while (scraping) {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    await response.text();
    scrapes++;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
});
try {
  for (const server of Object.values(servers)) await push(server);
  const figures = Object.fromEntries(sides.map((side) => [side, { rps: [] as number[], cpu: [] as number[] }]));
  for (let round = 0; round < rounds; round++) {
    // Every side in every position as the rounds go (two sides: alternating).
    const shift = round % sides.length;
    const order = [...sides.slice(shift), ...sides.slice(0, shift)];
    if (Math.floor(round / sides.length) % 2 === 1) order.reverse();
    for (const side of order) {
      const server = servers[side]!;
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
      const cpu = ((result.serverCpuSeconds ?? Number.NaN) / result.requests) * 1e6;
      figures[side]!.rps.push(result.rps);
      figures[side]!.cpu.push(cpu);
      console.log(
        `round ${round + 1} ${side.padEnd(8)}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ` +
          `${cpu.toFixed(1)} µs CPU/request`,
      );
    }
  }
  const text = values.control ? '' : await (await fetch(`http://127.0.0.1:${metricsPorts.on}/metrics`)).text();
  const counted =
    /regctl_http_requests_total\{repository="open",method="GET",route="manifest",status="200"\} (\d+)/.exec(text)?.[1];
  const off = figures.off!;
  console.log('');
  console.log(`manifest GET by tag, 8 connections, ${rounds} rounds of ${seconds} s, /metrics scraped every 1 s`);
  for (const side of sides) {
    const { rps, cpu } = figures[side]!;
    const label = {
      off: 'metrics off',
      on: values.control ? 'metrics off (control)' : 'metrics on',
      compared: `metrics on, ${values.compare}`,
    }[side];
    console.log(`  ${label}: median ${median(rps).toFixed(0)} req/s, ${median(cpu).toFixed(1)} µs CPU/request`);
    if (side === 'off') continue;
    console.log(`    ÷ off, req/s (median of paired rounds): ${pairedRatio(rps, off.rps).toFixed(3)}×`);
    console.log(`    ÷ off, CPU per request: ${pairedRatio(cpu, off.cpu).toFixed(3)}×`);
  }
  console.log(`  requests counted by regctl_http_requests_total: ${counted}; scrapes: ${scrapes}`);
} finally {
  scraping = false;
  await Promise.all(scrapers.map((scraper) => scraper.catch(() => undefined)));
  await Promise.all(Object.values(servers).map((server) => server.stop()));
  await dirs.cleanup();
}
