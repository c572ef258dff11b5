/**
 * Hot reload benchmark: `regctl serve` (child process, loopback, free ports) on a temp config.
 *
 * 1. Reload latency: the time from the config file's rename-replacement to the new plan serving
 *    (`/-/status` shows the new plan id; polled every 2 ms), over `--reloads` changes that each add
 *    or remove a repository. Target: p50 and max < 300 ms.
 * 2. Request latency: blob GETs of a small pushed blob from `--concurrency` keep-alive clients for
 *    `--seconds`, first steady, then while the config is rewritten every `--every` ms. Target: p99
 *    during reloads within 2× of steady state.
 *
 *   node bin/run-ts.mjs bench/reload.ts [--reloads 20] [--seconds 3] [--concurrency 8] [--every 200]
 *
 * Every loop is bounded (by count or by time); nothing leaves 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { sha256 } from '../test/helpers/oci-image.ts';
import { startRegctl } from '../test/helpers/regctl-server.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    reloads: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    every: { type: 'string', default: '200' },
  },
});
const RELOADS = Number(values.reloads);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const EVERY_MS = Number(values.every);

function configText(port: number, extras: number): string {
  const repos = Array.from(
    { length: extras },
    (_, i) => `{ name: 'extra${i}', type: 'hosted', anonymous: ['pull', 'push'] }`,
  );
  return `import { defineConfig } from ${JSON.stringify(join(REPO, 'schema/index.ts'))};
export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
    ${repos.join(',\n    ')}
  ],
  listeners: [{ host: '127.0.0.1', port: ${port}, repository: 'private' }],
});
`;
}

async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function planId(url: string): Promise<string> {
  const res = await fetch(`${url}/-/status`);
  return ((await res.json()) as { planId: string }).planId;
}

/** Blob GETs from `CONCURRENCY` workers for `seconds`; returns sorted latencies and failures. */
async function load(url: string, path: string, seconds: number): Promise<{ latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        try {
          const res = await fetch(`${url}${path}`);
          await res.arrayBuffer();
          if (res.status !== 200) failures += 1;
        } catch {
          failures += 1;
        }
        latencies.push(performance.now() - start);
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), failures };
}

const dir = await mkdtemp(join(tmpdir(), 'regctl-bench-reload-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const file = join(dir, 'registry.config.ts');
await writeFile(file, configText(port, 0));
const regctl = await startRegctl({ dir, configFile: file, ports: [port], env: { LOG_LEVEL: 'warn' } });
try {
  // 1. write → serving
  const times: number[] = [];
  let current = await planId(url);
  for (let n = 1; n <= RELOADS; n += 1) {
    const start = performance.now();
    await replace(file, configText(port, n % 2 === 0 ? 0 : 1 + (n % 3)));
    let next = current;
    while (next === current && performance.now() - start < 10_000) {
      await new Promise((r) => setTimeout(r, 2));
      next = await planId(url);
    }
    if (next === current) throw new Error(`reload ${n} not seen within 10 s`);
    times.push(performance.now() - start);
    current = next;
  }
  times.sort((a, b) => a - b);
  console.log(`reload: write → new plan serving over ${RELOADS} rename-replacements`);
  console.log(
    `  min ${fmt(times[0] ?? 0)}  p50 ${fmt(percentile(times, 50))}  max ${fmt(times.at(-1) ?? 0)}  (target < 300 ms)`,
  );

  // 2. request latency, steady vs during reloads
  const blob = randomBytes(4096);
  const digest = sha256(blob);
  const put = await fetch(`${url}/v2/bench/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob,
  });
  if (put.status !== 201) throw new Error(`push failed: ${put.status}`);
  const path = `/v2/bench/blobs/${digest}`;
  await load(url, path, 0.5); // warm-up
  const steady = await load(url, path, SECONDS);
  let rewrites = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop && rewrites < 1000) {
      rewrites += 1;
      await replace(file, configText(port, rewrites % 4));
      await new Promise((r) => setTimeout(r, EVERY_MS));
    }
  })();
  const during = await load(url, path, SECONDS);
  stop = true;
  await writer;
  const row = (label: string, r: { latencies: number[]; failures: number }) =>
    `  ${label.padEnd(16)} ${String(r.latencies.length).padStart(7)} req  p50 ${fmt(percentile(r.latencies, 50))}  p99 ${fmt(percentile(r.latencies, 99))}  failures ${r.failures}`;
  console.log(`request latency: ${CONCURRENCY} clients, 4 KiB blob GETs, ${SECONDS} s each`);
  console.log(row('steady', steady));
  console.log(row(`reload/${EVERY_MS}ms`, during));
  const ratio = percentile(during.latencies, 99) / percentile(steady.latencies, 99);
  console.log(`  p99 ratio ${ratio.toFixed(2)}× over ${rewrites} rewrites (target ≤ 2×)`);
} finally {
  await regctl.stop();
  await rm(dir, { recursive: true, force: true });
}
