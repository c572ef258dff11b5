/**
 * Hostile-load benchmark: a fresh `regctl serve` (child process, loopback, free port) under
 *
 * 1. slowloris: `--connections` connections that each send a request line and then one header
 *    byte every `--interval` ms, never finishing the head. Reported: a real client's ping and
 *    1 MiB blob pull latencies (p50/p99) idle and during the attack, and how long the server takes
 *    to drop the slow connections (its header deadline is 10 s);
 * 2. the malformed-request fuzzer of the e2e suite (test/helpers/http-fuzzer.ts), `--cases` cases
 *    from `--seed`: the status histogram, 5xx, answers not complete within 5 s, errors without
 *    the OCI body, and whether the plan still serves afterwards.
 *
 *   node bin/run-ts.mjs bench/hostile-http.ts [--connections 300] [--interval 1000] [--cases 3000] [--seed 16]
 *
 * Exits 1 when the fuzzer found a problem or a slow connection outlived the deadline. Every loop
 * is bounded (by count or by time); nothing leaves 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateFuzzCases, runFuzzer } from '../test/helpers/http-fuzzer.ts';
import { buildImage, seededBytes, sha256 } from '../test/helpers/oci-image.ts';
import { quantile, startSlowloris } from '../test/helpers/raw-http.ts';
import { startRegctl } from '../test/helpers/regctl-server.ts';
import { finishUpload, startUpload } from '../test/helpers/registry-http.ts';
import { regctlDirs } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '300' },
    interval: { type: 'string', default: '1000' },
    cases: { type: 'string', default: '3000' },
    seed: { type: 'string', default: '16' },
  },
});
const CONNECTIONS = Number(values.connections);
const INTERVAL_MS = Number(values.interval);
const CASES = Number(values.cases);
const SEED = Number(values.seed);
for (const [flag, value] of Object.entries({ CONNECTIONS, INTERVAL_MS, CASES, SEED })) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${flag}: expected a non-negative integer`);
}
/** The header deadline of runtime/http/limits.ts. */
const HEADERS_TIMEOUT_MS = 10_000;
const USER = { name: 'bench', password: 'hostile-bench-password-not-secret' } as const;

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

interface Latencies {
  ping: number[];
  pull: number[];
  failures: number;
}

/** Sequential ping + pull pairs until `untilMs` (performance.now()) or `stop()` says so, at most 10 000. */
async function measure(url: string, blobPath: string, untilMs: number, stop = () => false): Promise<Latencies> {
  const result: Latencies = { ping: [], pull: [], failures: 0 };
  for (let i = 0; i < 10_000 && performance.now() < untilMs && !stop(); i++) {
    for (const [path, into] of [
      ['/v2/', result.ping],
      [blobPath, result.pull],
    ] as const) {
      const started = performance.now();
      try {
        const res = await fetch(`${url}${path}`);
        await res.arrayBuffer();
        if (res.status !== 200) result.failures++;
      } catch {
        result.failures++;
      }
      into.push(performance.now() - started);
    }
  }
  return result;
}

function describe(label: string, latencies: Latencies): string {
  const { ping, pull, failures } = latencies;
  return (
    `  ${label.padEnd(28)} ping p50 ${fmt(quantile(ping, 0.5))}  p99 ${fmt(quantile(ping, 0.99))}` +
    `   pull 1 MiB p50 ${fmt(quantile(pull, 0.5))}  p99 ${fmt(quantile(pull, 0.99))}` +
    `   (${ping.length} pairs, ${failures} failed)`
  );
}

const root = await mkdtemp(join(tmpdir(), 'regctl-bench-hostile-'));
const { dir, logFile } = await regctlDirs(root);
const canary = `CANARY-${sha256(String(SEED)).slice(7, 23)}`;
const regctl = await startRegctl({
  dir,
  logFile,
  env: { LOG_LEVEL: 'warn', BENCH_PASSWORD: USER.password },
  config: {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
      { name: 'secured', type: 'hosted', anonymous: [] },
    ],
    listeners: [{ host: '127.0.0.1', repository: 'private', paths: ['secured'] }],
    security: {
      users: [{ name: USER.name, password: { env: 'BENCH_PASSWORD' }, roles: ['rw'] }],
      roles: { rw: [{ repositories: ['secured'], actions: ['pull', 'push'] }] },
    },
  },
});
let failed = false;
try {
  const image = buildImage({ seed: 'hostile-bench', layers: 1, layerSize: 1024 * 1024 });
  for (const blob of [image.config, ...image.layers]) {
    const done = await finishUpload(await startUpload(regctl.url, 'bench/app'), blob.digest, blob.bytes);
    if (done.status !== 201) throw new Error(`push failed: ${done.status}`);
  }
  const put = await fetch(`${regctl.url}/v2/bench/app/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  if (put.status !== 201) throw new Error(`manifest push failed: ${put.status}`);
  const manifestDigest = put.headers.get('docker-content-digest')!;
  const blobPath = `/v2/bench/app/blobs/${image.layers[0]!.digest}`;

  // 1. slowloris
  console.log(`slowloris: ${CONNECTIONS} connections, one header byte every ${INTERVAL_MS} ms`);
  await measure(regctl.url, blobPath, performance.now() + 500); // warm-up
  const idle = await measure(regctl.url, blobPath, performance.now() + 5000);
  console.log(describe('idle', idle));
  const attackStarted = performance.now();
  const slow = await startSlowloris(regctl.port, {
    connections: CONNECTIONS,
    intervalMs: INTERVAL_MS,
    maxBytes: Math.ceil((HEADERS_TIMEOUT_MS * 3) / Math.max(1, INTERVAL_MS)),
  });
  const openedIn = performance.now() - attackStarted;
  const during = await measure(
    regctl.url,
    blobPath,
    attackStarted + HEADERS_TIMEOUT_MS - 1000,
    () => slow.open() === 0,
  );
  console.log(describe(`during (${slow.open()} still open)`, during));
  await slow.allClosed(HEADERS_TIMEOUT_MS * 3);
  const closed = slow.closedAfterMs.filter((ms): ms is number => ms !== undefined);
  const statuses = new Map<string, number>();
  for (const status of slow.statuses)
    statuses.set(String(status ?? 'none'), (statuses.get(String(status ?? 'none')) ?? 0) + 1);
  console.log(
    `  slow connections opened in ${fmt(openedIn)}; dropped after p50 ${fmt(quantile(closed, 0.5))}, ` +
      `last ${fmt(Math.max(...closed))} (deadline ${HEADERS_TIMEOUT_MS} ms); ${slow.open()} never dropped; ` +
      `answers ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  if (slow.open() > 0) failed = true;
  slow.stop();
  const after = await measure(regctl.url, blobPath, performance.now() + 2000);
  console.log(describe('after', after));

  // 2. fuzzer
  const uploads: string[] = [];
  for (let i = 0; i < 4; i++) {
    const upload = new URL(await startUpload(regctl.url, `fuzz/session${i}`));
    uploads.push(`${upload.pathname}${upload.search}`);
  }
  const seedData = seededBytes('fuzz-seed', 4096);
  await finishUpload(await startUpload(regctl.url, 'fuzz/app'), sha256(seedData), seedData);
  const cases = generateFuzzCases(SEED, CASES, {
    host: regctl.host,
    name: 'bench/app',
    tag: 'v1',
    digests: [image.config.digest, image.layers[0]!.digest, manifestDigest, sha256(seedData)],
    uploads,
    securedSegment: 'secured',
    user: USER,
  });
  const fuzzStarted = performance.now();
  const report = await runFuzzer(regctl.port, cases, { concurrency: 6, boundMs: 5000, canary });
  const histogram = Object.fromEntries([...report.histogram].sort());
  const count = (match: string) => report.problems.filter((problem) => problem.includes(match)).length;
  console.log(`fuzzer: ${report.cases} cases from seed ${SEED} in ${fmt(performance.now() - fuzzStarted)}`);
  console.log(`  statuses ${JSON.stringify(histogram)}`);
  console.log(
    `  slowest answer ${fmt(report.slowestMs)}; problems ${report.problems.length} ` +
      `(no answer / hang ${count('no answer')}, without the OCI body ${count('without the OCI')}, ` +
      `5xx ${Object.entries(histogram)
        .filter(([status]) => status.startsWith('5'))
        .reduce((sum, [, n]) => sum + n, 0)})`,
  );
  for (const problem of report.problems.slice(0, 20)) console.log(`    ${problem}`);
  const ping = await fetch(`${regctl.url}/v2/bench/app/manifests/v1`, { headers: { accept: image.mediaType } });
  await ping.arrayBuffer();
  const serving = ping.status === 200 && ping.headers.get('docker-content-digest') === manifestDigest;
  console.log(`  the plan serves afterwards: ${serving ? 'yes' : 'NO'}`);
  if (report.problems.length > 0 || !serving) failed = true;
} finally {
  await regctl.stop();
  await rm(root, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
