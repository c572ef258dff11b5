/**
 * Proxy-repository benchmark: regctl's proxy in front of the CNCF distribution registry, against
 * pulling from that registry directly, in the same run, on loopback, with the same clients.
 *
 *   node bin/run-ts.mjs bench/proxy.ts [--scale 0.25] [--upstream-rate 1gbit]
 *     (or `npm run bench -- proxy`)
 *
 * - cold pull: time to last byte of a blob the proxy has never seen (stream-through: fetched from
 *   the upstream, verified and written to the cache while sent) ÷ the same size pulled directly
 *   from distribution, by the undici client. Target ≤ 1.1× (reported as direct ÷ proxy ≥ 0.91).
 *   On bare loopback both paths run at CPU speed, so this is the proxy's CPU ceiling; with
 *   `--upstream-rate R` the round runs again with everything the upstream sends shaped to R (a
 *   modelled network link, lib/link-shaper.ts), which both the direct pull and the proxy's
 *   upstream fetch cross while the client ↔ proxy hop stays unshaped.
 * - warm pull: throughput of cached blobs through regctl ÷ distribution serving the same blobs,
 *   by one curl process per side (lib/curl.ts: the client must not be the bottleneck). Target ≥ 1.0×.
 * - idle vs peak RSS of regctl while a 2 GiB blob goes through cold: memory must stay flat.
 *
 * Flags (when run on its own): `--scale N`; `--big-mib N` sets the big cold blob's size (2048 at
 * scale 1); `--big-only` skips the cold/warm rounds and measures only the big blob; `--node-options
 * STR` starts regctl with NODE_OPTIONS=STR (e.g. `--import` of a profiler hook: Node refuses
 * `--cpu-prof` there); `--upstream-rate R` (a tc rate: `1gbit`, `500mbit`; needs root, `tc` and
 * no qdisc on `lo`) adds the shaped cold round.
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startDistribution } from '../test/helpers/distribution.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { startRegctl } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { type BenchBlob, BlobFactory, MiB } from './lib/blobs.ts';
import { blobTransfers, curlPull, mibPerSecond } from './lib/curl.ts';
import { parseRate, shapePort } from './lib/link-shaper.ts';
import { RegistryClient } from './lib/registry-client.ts';
import { bestOf, throughputRow } from './lib/rounds.ts';
import { idleRss, sampleRss } from './lib/rss.ts';
import { regctlDirs } from './lib/servers.ts';
import { formatReport } from './lib/table.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';

const CONCURRENCY = 8;
const NAME = 'bench/proxy';
/** Bytes each warm measurement moves (see `warm`). */
const WARM_BYTES = 1024 * 1024 * 1024;

async function timed(task: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await task();
  return performance.now() - started;
}

/** The proxy benchmark's own knobs, on top of the shared ones. */
export interface ProxyBenchOptions extends BenchOptions {
  /** Size of the big cold blob in MiB (default 2048 × scale, at least 64). */
  readonly bigMiB?: number;
  /** Only the big cold blob (idle vs peak RSS and its throughput). */
  readonly bigOnly?: boolean;
  /** NODE_OPTIONS for the regctl process (profiling hooks). */
  readonly nodeOptions?: string;
  /**
   * When set (a tc rate such as `1gbit`), the cold round runs a second time with every packet the
   * upstream sends shaped to this rate on `lo` (lib/link-shaper.ts; needs root and a bare `lo`).
   */
  readonly upstreamRate?: string;
}

export async function bench(options: ProxyBenchOptions): Promise<BenchReport> {
  const { scale, log } = options;
  // Validated before anything starts: a bad flag fails fast, with its name.
  if (!(scale > 0)) throw new Error(`proxy: the scale must be a positive number, got ${scale}`);
  if (options.bigMiB !== undefined && !(Number.isInteger(options.bigMiB) && options.bigMiB > 0)) {
    throw new Error(`proxy: --big-mib must be a positive whole number of MiB, got ${options.bigMiB}`);
  }
  if (options.upstreamRate !== undefined && options.bigOnly) {
    throw new Error('proxy: --upstream-rate shapes the cold round, which --big-only skips');
  }
  const blobSize = Math.max(1, Math.round(64 * scale)) * MiB;
  const bigSize = (options.bigMiB ?? Math.max(64, Math.round(2048 * scale))) * MiB;
  const coldCount = Math.max(4, Math.round(8 * scale));
  if (options.upstreamRate !== undefined) parseRate(options.upstreamRate);
  // The clients and the shaper are checked before anything starts: a missing one names its package.
  requireBinary('curl', 'curl');
  if (options.upstreamRate !== undefined) requireBinary('tc', 'iproute2');
  const dirs = new TmpDirs();
  const upstream = await startDistribution({ dir: await dirs.make('dist-proxy-bench-') });
  const regctl = await startRegctl({
    ...(await regctlDirs(await dirs.make('regctl-proxy-bench-'))),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [{ name: 'cache', type: 'proxy', remote: { url: upstream.url }, anonymous: ['pull'] }],
      listeners: [{ host: '127.0.0.1', repository: 'cache' }],
    },
    env: options.nodeOptions === undefined ? {} : { NODE_OPTIONS: options.nodeOptions },
  }).catch(async (error: unknown) => {
    await upstream.stop();
    throw error;
  });
  const direct = new RegistryClient(upstream.url, { connections: CONCURRENCY });
  const proxy = new RegistryClient(regctl.url, { connections: CONCURRENCY });
  const rows: BenchRow[] = [];
  const notes: string[] = [];

  /**
   * Cold: pair i pulls blob 2i directly and blob 2i+1 (never seen by the proxy) through regctl,
   * alternating which goes first; distribution serves both from its warm page cache.
   */
  async function cold(blobs: readonly BenchBlob[], link: string): Promise<void> {
    let directMs = 0;
    let coldMs = 0;
    for (let i = 0; i < coldCount; i++) {
      const a = blobs[2 * i]!;
      const b = blobs[2 * i + 1]!;
      if (i % 2 === 0) {
        directMs += await timed(() => direct.pullBlob(NAME, a.digest));
        coldMs += await timed(() => proxy.pullBlob(NAME, b.digest));
      } else {
        coldMs += await timed(() => proxy.pullBlob(NAME, b.digest));
        directMs += await timed(() => direct.pullBlob(NAME, a.digest));
      }
    }
    const coldRatio = coldMs / directMs;
    log(
      `cold pull, ${link}: proxy ${coldMs.toFixed(0)} ms vs direct ${directMs.toFixed(0)} ms (${coldRatio.toFixed(2)}×)`,
    );
    rows.push({
      metric: `cold pull time to last byte, ${coldCount} × ${blobSize / MiB} MiB sequential, ${link}`,
      unit: 'ms',
      regctl: coldMs,
      baseline: directMs,
      ratio: directMs / coldMs,
      target: '≤ 1.1× direct (ratio ≥ 0.91)',
      pass: coldRatio <= 1.1,
    });
  }

  /**
   * Warm: the blobs the cold round cached, over and over until at least {@link WARM_BYTES} moved,
   * 8 concurrent, by one curl process per side. Twice over 4 × 16 MiB (what this did first) is
   * 128 MiB, about 40 ms at these rates: curl's start and the connections' setup weighed as much
   * as the serving, and the ratio swung between 0.3× and 0.9× for the same servers.
   */
  async function warm(cached: readonly BenchBlob[]): Promise<void> {
    const count = Math.max(cached.length * 2, Math.ceil(WARM_BYTES / blobSize));
    const pull = (client: RegistryClient) =>
      curlPull({ transfers: blobTransfers(client.origin, NAME, cached, count), parallel: CONCURRENCY });
    const best = await bestOf(async (side) => mibPerSecond(await pull(side === 'regctl' ? proxy : direct)));
    log(`warm pull: regctl ${best.regctl.toFixed(0)} MiB/s vs distribution ${best.distribution.toFixed(0)} MiB/s`);
    rows.push(
      throughputRow(
        `warm pull (cached), ${count} × ${blobSize / MiB} MiB, ${CONCURRENCY} concurrent (curl)`,
        best.regctl,
        best.distribution,
        1.0,
      ),
    );
  }

  /** The cold round again with the upstream's traffic shaped to `rate`, checked by a direct pull. */
  async function shapedCold(blobs: readonly BenchBlob[], rate: string): Promise<void> {
    const link = await shapePort(upstream.port, rate);
    try {
      // The link check: one blob pulled directly by curl (its own clock, no process start-up).
      const probe = blobs[0]!;
      const [got] = (await curlPull({ transfers: blobTransfers(upstream.url, NAME, [probe]), parallel: 1 })).transfers;
      const mbit = (probe.size * 8) / got!.seconds / 1e6;
      const share = (mbit * 1e6) / link.bitsPerSecond;
      notes.push(
        `shaped upstream link check: a direct ${probe.size / MiB} MiB pull ran at ${mbit.toFixed(0)} Mbit/s ` +
          `(${(share * 100).toFixed(0)} % of ${rate}; the link is HTB on lo, rate only, no delay)`,
      );
      log(notes.at(-1)!);
      if (share > 1.25) throw new Error(`link shaper: ${mbit.toFixed(0)} Mbit/s is not limited to ${rate}`);
      await cold(blobs, `upstream link shaped to ${rate}`);
    } finally {
      await link.remove();
    }
  }

  try {
    const factory = new BlobFactory();
    const shaped = options.upstreamRate !== undefined;
    const sets = options.bigOnly ? 0 : shaped ? 2 : 1;
    log(`seeding the upstream: ${sets} × ${coldCount * 2} × ${blobSize / MiB} MiB and one ${bigSize / MiB} MiB blob`);
    const blobs = Array.from({ length: sets * coldCount * 2 }, (_, i) => factory.create(1000 + i, blobSize));
    for (const blob of blobs) await direct.pushMonolithic(NAME, blob);
    const big = factory.create(9999, bigSize);
    await direct.pushMonolithic(NAME, big);
    if (!options.bigOnly) {
      const unshaped = blobs.slice(0, coldCount * 2);
      await cold(unshaped, 'loopback');
      await warm(unshaped.filter((_, i) => i % 2 === 1));
      if (shaped) await shapedCold(blobs.slice(coldCount * 2), options.upstreamRate!);
    }

    // Memory: a big blob, cold, through the proxy; idle first (after the rounds above, so it is
    // the process's settled baseline), then the peak while the blob goes through.
    const idleBytes = await idleRss(regctl.pid());
    const sampler = sampleRss(regctl.pid(), 25);
    const bigMs = await timed(() => proxy.pullBlob(NAME, big.digest));
    const { peakBytes, samples } = await sampler.stop();
    const growth = peakBytes - idleBytes;
    log(
      `big cold pull: ${bigSize / MiB} MiB in ${bigMs.toFixed(0)} ms, RSS idle ${(idleBytes / MiB).toFixed(0)} MiB, ` +
        `peak ${(peakBytes / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB)`,
    );
    rows.push({
      metric: `regctl RSS before a ${bigSize / MiB} MiB cold pull (idle, median)`,
      unit: 'MiB',
      regctl: idleBytes / MiB,
      baseline: null,
      ratio: null,
      target: '–',
      pass: null,
    });
    rows.push({
      metric: `regctl peak RSS during a ${bigSize / MiB} MiB cold pull`,
      unit: 'MiB',
      regctl: peakBytes / MiB,
      baseline: null,
      ratio: null,
      target: '< 256 MiB, flat (growth over idle < 64 MiB)',
      pass: peakBytes < 256 * MiB && growth < 64 * MiB,
    });
    notes.push(
      `big cold pull throughput ${(bigSize / MiB / (bigMs / 1000)).toFixed(0)} MiB/s; ${samples} RSS samples`,
      'cold: distribution serves both sides from its page cache; the proxy also hashes and writes every byte; ' +
        'cold pulls use the undici client, warm pulls one curl process per side',
    );
  } finally {
    await Promise.all([direct.close(), proxy.close()]);
    await Promise.all([regctl.stop(), upstream.stop()]);
    await dirs.cleanup();
  }
  return { name: 'proxy', baseline: 'distribution 2.8 (filesystem), pulled directly', rows, notes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { values } = parseArgs({
      options: {
        scale: { type: 'string', default: '1' },
        'big-mib': { type: 'string' },
        'big-only': { type: 'boolean', default: false },
        'node-options': { type: 'string' },
        'upstream-rate': { type: 'string' },
      },
    });
    const report = await bench({
      scale: Number(values.scale),
      bigMiB: values['big-mib'] === undefined ? undefined : Number(values['big-mib']),
      bigOnly: values['big-only'],
      nodeOptions: values['node-options'],
      upstreamRate: values['upstream-rate'],
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${formatReport(report)}\n`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
