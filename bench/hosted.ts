/**
 * Hosted-repository benchmark: regctl (file store) against the CNCF distribution registry
 * (filesystem storage) in the same run, on loopback, with the same clients: undici for pushes,
 * curl (one process, lib/curl.ts) for the pull throughput, wrk and ab for request rates.
 *
 *   node bin/run-ts.mjs bench/hosted.ts [--scale 0.25]     (or `npm run bench`)
 *
 * Measures blob pull and push (monolithic, chunked) throughput, manifest GET by tag and blob
 * HEAD req/s and p99 on 8 connections, authenticated vs anonymous manifest GET on regctl (req/s,
 * and the server's CPU time per request read from /proc, as medians of paired rounds: see
 * AUTH_ROUNDS), and regctl's peak RSS while a 2 GiB
 * blob goes in and out (the servers first left idle for 15 s when other phases ran before).
 * Throughputs take the better of two rounds, alternating which registry goes first, since these
 * shared machines drift.
 */
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildImage } from '../test/helpers/oci-image.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { runAb } from './lib/ab.ts';
import { BlobFactory, MiB } from './lib/blobs.ts';
import { blobTransfers, cpuMsPerGiB, curlPull, mibPerSecond } from './lib/curl.ts';
import type { LoadOptions } from './lib/load.ts';
import { RegistryClient } from './lib/registry-client.ts';
import { bestOf, median, pairedRatio, type Side, throughputRow } from './lib/rounds.ts';
import { idleRss, sampleRss } from './lib/rss.ts';
import { BENCH_USER, fetchBearerToken, startHostedServers } from './lib/servers.ts';
import { formatReport } from './lib/table.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';
import { runWrk } from './lib/wrk.ts';

const CONCURRENCY = 8;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The phases `--only` (BenchOptions.only) selects from. */
const PHASES = ['push', 'pull', 'get', 'rss'] as const;
/**
 * Rounds of the authenticated-vs-anonymous loops. Each round runs every variant back to back (the
 * order alternating), and a variant's ratio is the median over the rounds of its figure against
 * the same round's anonymous one: on this shared machine one loop's figure moves by ±5–15 % from
 * one run to the next, far more than authentication costs, while two loops run back to back move
 * together.
 */
const AUTH_ROUNDS = 7;
/** Idle time before the RSS phase when other phases ran first. */
const SETTLE_SECONDS = 15;

/** Runs `count` jobs on `CONCURRENCY` workers; returns MiB/s over the wall time. */
async function parallelThroughput(
  count: number,
  bytesEach: number,
  job: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return (count * bytesEach) / MiB / ((performance.now() - started) / 1000);
}

export async function bench(options: BenchOptions): Promise<BenchReport> {
  const { scale, log } = options;
  if (!(scale > 0)) throw new Error(`hosted: the scale must be a positive number, got ${scale}`);
  const unknown = options.only?.filter((phase) => !(PHASES as readonly string[]).includes(phase)) ?? [];
  if (unknown.length) throw new Error(`hosted: unknown phase ${unknown.join(', ')} (phases: ${PHASES.join(', ')})`);
  const blobSize = Math.max(1, Math.round(64 * scale)) * MiB;
  const bigSize = Math.max(64, Math.round(2048 * scale)) * MiB;
  const pulls = Math.max(CONCURRENCY, Math.round(32 * scale));
  const loadSeconds = Math.max(3, Math.round(10 * scale));
  const authSeconds = Math.max(2, Math.round(4 * scale));
  // The load clients are checked before anything starts: a missing one names its package.
  const want = (phase: string) => !options.only || options.only.includes(phase);
  if (want('pull')) requireBinary('curl', 'curl');
  if (want('get')) {
    requireBinary('wrk', 'wrk');
    requireBinary('ab', 'apache2-utils');
  }
  const dirs = new TmpDirs();
  const servers = await startHostedServers(await dirs.make('regctl-bench-'), await dirs.make('dist-bench-'));
  const clients: Record<Side, RegistryClient> = {
    regctl: new RegistryClient(servers.regctl.url, { connections: CONCURRENCY }),
    distribution: new RegistryClient(servers.distribution.url, { connections: CONCURRENCY }),
  };
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  try {
    const factory = new BlobFactory();
    let seed = 1;
    const freshBlobs = (n: number, size: number) => Array.from({ length: n }, () => factory.create(seed++, size));

    if (want('push')) {
      log(`push: ${CONCURRENCY} × ${blobSize / MiB} MiB, monolithic, ${CONCURRENCY} concurrent`);
      const mono = await bestOf((side) => {
        const blobs = freshBlobs(CONCURRENCY, blobSize);
        return parallelThroughput(blobs.length, blobSize, (i) => clients[side].pushMonolithic('bench/push', blobs[i]!));
      });
      rows.push(
        throughputRow(
          `blob push, monolithic (${blobSize / MiB} MiB × ${CONCURRENCY} concurrent)`,
          mono.regctl,
          mono.distribution,
          1.2,
        ),
      );

      log(`push: ${CONCURRENCY} × ${blobSize / MiB} MiB, 8 MiB chunks, ${CONCURRENCY} concurrent`);
      const chunked = await bestOf((side) => {
        const blobs = freshBlobs(CONCURRENCY, blobSize);
        return parallelThroughput(blobs.length, blobSize, (i) =>
          clients[side].pushChunked('bench/push', blobs[i]!, 8 * MiB),
        );
      });
      rows.push(
        throughputRow(
          `blob push, chunked 8 MiB (${blobSize / MiB} MiB × ${CONCURRENCY} concurrent)`,
          chunked.regctl,
          chunked.distribution,
          1.2,
        ),
      );
    }
    if (want('pull')) {
      log(`pull: ${pulls} × ${blobSize / MiB} MiB, ${CONCURRENCY} concurrent, one curl process`);
      const pullSet = freshBlobs(CONCURRENCY, blobSize);
      for (const side of ['regctl', 'distribution'] as const) {
        await Promise.all(pullSet.map((b) => clients[side].pushMonolithic('bench/pull', b)));
      }
      // curl, in its own process, checks every transfer's status and size (lib/curl.ts); its CPU
      // per GiB is printed so the client's share of the two cores is visible.
      const clientCpu: Record<Side, number[]> = { regctl: [], distribution: [] };
      const rounds: Record<Side, number[]> = { regctl: [], distribution: [] };
      const pull = await bestOf(async (side) => {
        const transfers = blobTransfers(clients[side].origin, 'bench/pull', pullSet, pulls);
        const result = await curlPull({ transfers, parallel: CONCURRENCY });
        const cpu = cpuMsPerGiB(result);
        if (cpu !== null) clientCpu[side].push(cpu);
        const mibps = mibPerSecond(result);
        rounds[side].push(mibps);
        return mibps;
      });
      rows.push(
        throughputRow(
          `blob pull (${blobSize / MiB} MiB × ${CONCURRENCY} concurrent)`,
          pull.regctl,
          pull.distribution,
          1.0,
        ),
      );
      const each = (values: number[]) => values.map((v) => v.toFixed(0)).join(' / ') || '–';
      notes.push(
        `blob pull, each round: regctl ${each(rounds.regctl)} MiB/s, distribution ${each(rounds.distribution)} MiB/s; ` +
          `client curl (${CONCURRENCY} parallel transfers), its CPU per GiB: regctl ${each(clientCpu.regctl)} ms, ` +
          `distribution ${each(clientCpu.distribution)} ms`,
      );
    }
    if (want('get')) {
      // A small image for manifest and HEAD loads, on both registries and on regctl's secured repository.
      const image = buildImage({ layers: 1, layerSize: 4096, seed: 'bench', format: 'oci' });
      const basic = `Basic ${Buffer.from(`${BENCH_USER.name}:${BENCH_USER.password}`).toString('base64')}`;
      const securedClient = new RegistryClient(servers.regctl.url, {
        connections: CONCURRENCY,
        headers: { authorization: basic },
      });
      const seedImage = async (client: RegistryClient, name: string) => {
        for (const b of [image.config, ...image.layers]) {
          await client.pushMonolithic(name, {
            digest: b.digest,
            size: b.bytes.length,
            stream: () => Readable.from([b.bytes]),
          });
        }
        await client.putManifest(name, '1', image.manifest.bytes, OCI_MANIFEST);
      };
      await seedImage(clients.regctl, 'bench/app');
      await seedImage(clients.distribution, 'bench/app');
      await seedImage(securedClient, 'secured/bench/app');

      // The load client runs in its own process: wrk for GET, ApacheBench (`ab -k -i`) for HEAD
      // (wrk 4.1 waits for a body after a HEAD answer with Content-Length). Both registries get
      // the same client for the same metric.
      const load = (
        client: RegistryClient,
        method: 'GET' | 'HEAD',
        path: string,
        headers: Record<string, string> = {},
        cpuOf?: number,
        seconds = loadSeconds,
      ) => {
        const request: LoadOptions = {
          origin: client.origin,
          connections: CONCURRENCY,
          method,
          path,
          headers: { ...client.headers, ...headers },
          seconds,
        };
        return method === 'GET'
          ? runWrk({ ...request, warmupSeconds: 1, ...(cpuOf === undefined ? {} : { cpuOf }) })
          : runAb({ ...request, warmupRequests: 400 });
      };
      const accept = { accept: OCI_MANIFEST };
      const latencyRows = async (
        what: string,
        method: 'GET' | 'HEAD',
        path: string,
        headers: Record<string, string>,
      ) => {
        log(
          `${what}: ${method === 'GET' ? 'wrk' : 'ab -k -i'}, ${CONCURRENCY} connections, ${loadSeconds} s after a warm-up`,
        );
        const d = await load(clients.distribution, method, path, headers);
        const r = await load(clients.regctl, method, path, headers);
        rows.push({
          metric: `${what} (${CONCURRENCY} connections)`,
          unit: 'req/s',
          regctl: r.rps,
          baseline: d.rps,
          ratio: r.rps / d.rps,
          target: '≥ 5×',
          pass: r.rps / d.rps >= 5,
        });
        rows.push({
          metric: `${what} p99`,
          unit: 'ms',
          regctl: r.p99Ms,
          baseline: d.p99Ms,
          ratio: d.p99Ms / r.p99Ms,
          target: '< 5 ms',
          pass: r.p99Ms < 5,
        });
        if (r.errors || d.errors) notes.push(`${what}: ${r.errors} regctl / ${d.errors} distribution requests failed`);
        return r;
      };
      await latencyRows('manifest GET by tag', 'GET', '/v2/bench/app/manifests/1', accept);
      await latencyRows('blob HEAD', 'HEAD', `/v2/bench/app/blobs/${image.layers[0]!.digest}`, {});

      // Authenticated against anonymous: the machine's drift between two loops would weigh as much
      // as authentication itself, so the figures are paired per round (see AUTH_ROUNDS).
      const token = await fetchBearerToken(
        servers.regctl.url,
        '/v2/secured/bench/app/manifests/1',
        'repository:secured/bench/app:pull',
        basic,
      );
      const anonymousPath = '/v2/bench/app/manifests/1';
      const secured = '/v2/secured/bench/app/manifests/1';
      /**
       * The anonymous request made as long as an authenticated one (path and `Authorization` line)
       * with an `x-pad` header: on loopback the client shares the two cores, so every request byte
       * costs the client and the kernel too, and this control separates that from the server's
       * cost of checking the credential.
       */
      const sameSize = (authorization: string) => {
        const extra = `authorization: ${authorization}`.length + secured.length - anonymousPath.length;
        return { ...accept, 'x-pad': 'x'.repeat(Math.max(1, extra - 'x-pad: '.length)) };
      };
      // The server's CPU time per request as well (from /proc), measured over each wrk run: what
      // the check costs the server, apart from the req/s that the shared cores and the request's
      // size also move.
      const pid = servers.regctl.pid();
      type Variant = [name: string, run: () => ReturnType<typeof load>, control?: string];
      const variants: Variant[] = [
        ['anonymous', () => load(clients.regctl, 'GET', anonymousPath, accept, pid, authSeconds)],
        [
          'anonymous (Basic-sized)',
          () => load(clients.regctl, 'GET', anonymousPath, sameSize(basic), pid, authSeconds),
        ],
        ['Basic auth', () => load(securedClient, 'GET', secured, accept, pid, authSeconds), 'anonymous (Basic-sized)'],
      ];
      if (token) {
        const bearer = { ...accept, authorization: `Bearer ${token}` };
        variants.push(
          [
            'anonymous (Bearer-sized)',
            () => load(clients.regctl, 'GET', anonymousPath, sameSize(bearer.authorization), pid, authSeconds),
          ],
          [
            'Bearer token',
            () => load(clients.regctl, 'GET', secured, bearer, pid, authSeconds),
            'anonymous (Bearer-sized)',
          ],
        );
      }
      log(
        `authenticated manifest GET on regctl: ${variants.map(([name]) => name).join(', ')}, ` +
          `${AUTH_ROUNDS} rounds of ${authSeconds} s each`,
      );
      /** Each variant's req/s and server CPU µs per request, one entry per round. */
      const figures = new Map(variants.map(([name]) => [name, { rps: [] as number[], cpu: [] as number[] }]));
      for (let round = 0; round < AUTH_ROUNDS; round++) {
        for (const [name, run] of round % 2 === 0 ? variants : [...variants].reverse()) {
          const result = await run();
          const entry = figures.get(name)!;
          entry.rps.push(result.rps);
          entry.cpu.push(
            result.serverCpuSeconds === undefined ? Number.NaN : (result.serverCpuSeconds / result.requests) * 1e6,
          );
        }
      }
      const anonymousFigures = figures.get('anonymous')!;
      const pairedRow = (name: string, against: string, what: string): BenchRow => {
        const own = figures.get(name)!.rps;
        const base = figures.get(against)!.rps;
        const ratio = pairedRatio(own, base);
        return {
          metric: `manifest GET, ${name} vs ${against}${what} (regctl, median of ${AUTH_ROUNDS} paired rounds)`,
          unit: 'req/s',
          regctl: median(own),
          baseline: median(base),
          ratio,
          target: '≥ 0.9× (within 10%)',
          pass: ratio >= 0.9,
        };
      };
      for (const [name, , control] of variants) {
        if (control === undefined) continue;
        rows.push(pairedRow(name, 'anonymous', ''), pairedRow(name, control, " (the server's cost of the check)"));
        const own = figures.get(name)!.cpu;
        const controlCpu = figures.get(control)!.cpu;
        if (own.every(Number.isFinite) && controlCpu.every(Number.isFinite)) {
          const ratio = pairedRatio(controlCpu, own);
          rows.push({
            metric: `manifest GET, ${name}: server CPU per request vs ${control} (median of paired rounds)`,
            unit: 'µs',
            regctl: median(own),
            baseline: median(controlCpu),
            ratio,
            target: '≥ 0.9× (within 10%)',
            pass: ratio >= 0.9,
          });
        }
      }
      notes.push(
        `manifest GET on regctl, each round's req/s against the same round's anonymous: ${variants
          .filter(([, , control]) => control !== undefined)
          .map(
            ([name]) =>
              `${name} ${figures
                .get(name)!
                .rps.map((rps, round) => (rps / anonymousFigures.rps[round]!).toFixed(3))
                .join(' ')}`,
          )
          .join('; ')}`,
      );
      if (anonymousFigures.cpu.every(Number.isFinite)) {
        notes.push(
          `server CPU per manifest GET on regctl (median of ${AUTH_ROUNDS} rounds, /proc): ${[...figures]
            .map(([name, entry]) => `${name} ${median(entry.cpu).toFixed(1)} µs`)
            .join(', ')}`,
        );
      }
      if (!token) {
        notes.push(
          'Bearer token row skipped: the secured repository did not challenge with Bearer or the token endpoint refused',
        );
      }
      await securedClient.close();
    }
    if (want('rss')) {
      const settled: Record<Side, string> = { regctl: '', distribution: '' };
      if (options.only === undefined || options.only.some((phase) => phase !== 'rss')) {
        // After the other phases, both servers are first left idle, as a server is between bursts:
        // regctl's memory reducer gives a burst's heap back within about 12 s of quiet.
        const pids: Record<Side, number> = { regctl: servers.regctl.pid(), distribution: servers.distribution.pid };
        const before = { regctl: await idleRss(pids.regctl), distribution: await idleRss(pids.distribution) };
        log(`RSS: both servers idle for ${SETTLE_SECONDS} s after the request phases`);
        await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
        for (const side of ['regctl', 'distribution'] as const) {
          settled[side] = `, ${(before[side] / MiB).toFixed(1)} MiB just after the earlier phases`;
        }
      }
      log(`RSS: push then pull one ${bigSize / MiB} MiB blob`);
      const big = factory.create(seed++, bigSize);
      const peak: Record<Side, number> = { regctl: 0, distribution: 0 };
      for (const side of ['regctl', 'distribution'] as const) {
        const pid = side === 'regctl' ? servers.regctl.pid() : servers.distribution.pid;
        const idle = (await idleRss(pid)) / MiB;
        const pushSampler = sampleRss(pid, 25);
        await clients[side].pushMonolithic('bench/big', big);
        const pushed = await pushSampler.stop();
        const pullSampler = sampleRss(pid, 25);
        const bytes = await clients[side].pullBlob('bench/big', big.digest);
        if (bytes !== big.size) throw new Error(`${side}: pulled ${bytes} of ${big.size}`);
        const pulled = await pullSampler.stop();
        peak[side] = Math.max(pushed.peakBytes, pulled.peakBytes) / MiB;
        notes.push(
          `${side}: RSS before ${idle.toFixed(1)} MiB${settled[side]}, peak during push ${(pushed.peakBytes / MiB).toFixed(1)} MiB, ` +
            `during pull ${(pulled.peakBytes / MiB).toFixed(1)} MiB (${pushed.samples + pulled.samples} samples, ` +
            `${bigSize / MiB} MiB blob)`,
        );
      }
      rows.push({
        metric: `peak RSS while pushing + pulling a ${bigSize / MiB} MiB blob`,
        unit: 'MiB',
        regctl: peak.regctl,
        baseline: peak.distribution,
        ratio: peak.distribution / peak.regctl,
        target: '< 150 MiB',
        pass: peak.regctl < 150,
      });
    }
    return { name: 'hosted', baseline: 'distribution 2.8 (docker-registry, filesystem)', rows, notes };
  } finally {
    await Promise.all([clients.regctl.close(), clients.distribution.close()]);
    await servers.stop();
    await dirs.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, only: { type: 'string' } } });
    const report = await bench({
      scale: Number(values.scale),
      ...(values.only === undefined ? {} : { only: values.only.split(',') }),
      log: (line) => process.stderr.write(`[hosted] ${line}\n`),
    });
    console.log(formatReport(report));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
