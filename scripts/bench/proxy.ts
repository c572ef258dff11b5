/**
 * Proxy-repository benchmark: regctl's proxy in front of the CNCF distribution registry, against
 * pulling from that registry directly, in the same run, on loopback, with the same undici client.
 *
 *   node bin/run-ts.mjs scripts/bench/proxy.ts [--scale 0.25]     (or `npm run bench -- proxy`)
 *
 * - cold pull: time to last byte of a blob the proxy has never seen (stream-through: fetched from
 *   the upstream, verified and written to the cache while sent) ÷ the same size pulled directly
 *   from distribution. Target ≤ 1.1× (reported as direct ÷ proxy ≥ 0.91).
 * - warm pull: throughput of cached blobs through regctl ÷ distribution serving the same blobs.
 *   Target ≥ 1.0×.
 * - idle vs peak RSS of regctl while a 2 GiB blob goes through cold: memory must stay flat.
 *
 * Flags (when run on its own): `--scale N`; `--big-mib N` sets the big cold blob's size (2048 at
 * scale 1); `--big-only` skips the cold/warm rounds and measures only the big blob; `--node-options
 * STR` starts regctl with NODE_OPTIONS=STR (e.g. `--import` of a profiler hook: Node refuses
 * `--cpu-prof` there).
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startDistribution } from '../../test/helpers/distribution.ts';
import { startRegctl } from '../../test/helpers/regctl-server.ts';
import { TmpDirs } from '../../test/helpers/tmp.ts';
import { type BenchBlob, BlobFactory, MiB } from './lib/blobs.ts';
import { RegistryClient } from './lib/registry-client.ts';
import { readRss, sampleRss } from './lib/rss.ts';
import { formatReport } from './lib/table.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';

const CONCURRENCY = 8;
const NAME = 'bench/proxy';

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
}

/** Median of a few idle samples of `pid`'s RSS, taken `intervalMs` apart. */
async function idleRss(pid: number, count = 10, intervalMs = 50): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const rss = await readRss(pid);
    if (rss !== null) samples.push(rss);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

export async function bench(options: ProxyBenchOptions): Promise<BenchReport> {
  const { scale, log } = options;
  const blobSize = Math.max(1, Math.round(64 * scale)) * MiB;
  const bigSize = (options.bigMiB ?? Math.max(64, Math.round(2048 * scale))) * MiB;
  const coldCount = Math.max(4, Math.round(8 * scale));
  const dirs = new TmpDirs();
  const upstream = await startDistribution({ dir: await dirs.make('dist-proxy-bench-') });
  const regctl = await startRegctl({
    dir: await dirs.make('regctl-proxy-bench-'),
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
  async function coldAndWarm(blobs: readonly BenchBlob[]): Promise<void> {
    // Cold: pair i pulls blob 2i directly and blob 2i+1 (never seen by the proxy) through regctl,
    // alternating which goes first; both come from distribution's warm page cache.
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
    log(`cold pull: proxy ${coldMs.toFixed(0)} ms vs direct ${directMs.toFixed(0)} ms (${coldRatio.toFixed(2)}×)`);
    rows.push({
      metric: `cold pull time to last byte, ${coldCount} × ${blobSize / MiB} MiB sequential`,
      unit: 'ms',
      regctl: coldMs,
      baseline: directMs,
      ratio: directMs / coldMs,
      target: '≤ 1.1× direct (ratio ≥ 0.91)',
      pass: coldRatio <= 1.1,
    });

    // Warm: the blobs pulled through the proxy are cached now; the same set, 8 concurrent, both sides.
    const cached = blobs.filter((_, i) => i % 2 === 1);
    const throughput = async (client: RegistryClient) => {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < cached.length * 2) await client.pullBlob(NAME, cached[next++ % cached.length]!.digest);
        }),
      );
      return (cached.length * 2 * blobSize) / MiB / ((performance.now() - started) / 1000);
    };
    const warm = { regctl: 0, distribution: 0 };
    for (let round = 0; round < 2; round++) {
      if (round === 0) {
        warm.distribution = Math.max(warm.distribution, await throughput(direct));
        warm.regctl = Math.max(warm.regctl, await throughput(proxy));
      } else {
        warm.regctl = Math.max(warm.regctl, await throughput(proxy));
        warm.distribution = Math.max(warm.distribution, await throughput(direct));
      }
    }
    log(`warm pull: regctl ${warm.regctl.toFixed(0)} MiB/s vs distribution ${warm.distribution.toFixed(0)} MiB/s`);
    rows.push({
      metric: `warm pull (cached), ${cached.length * 2} × ${blobSize / MiB} MiB, ${CONCURRENCY} concurrent`,
      unit: 'MiB/s',
      regctl: warm.regctl,
      baseline: warm.distribution,
      ratio: warm.regctl / warm.distribution,
      target: '≥ 1.0×',
      pass: warm.regctl / warm.distribution >= 1.0,
    });
  }

  try {
    const factory = new BlobFactory();
    log(`seeding the upstream: ${coldCount * 2} × ${blobSize / MiB} MiB and one ${bigSize / MiB} MiB blob`);
    const blobs = options.bigOnly
      ? []
      : Array.from({ length: coldCount * 2 }, (_, i) => factory.create(1000 + i, blobSize));
    for (const blob of blobs) await direct.pushMonolithic(NAME, blob);
    const big = factory.create(9999, bigSize);
    await direct.pushMonolithic(NAME, big);
    if (!options.bigOnly) await coldAndWarm(blobs);

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
      'cold: distribution serves both sides from its page cache; the proxy also hashes and writes every byte',
    );
  } finally {
    await Promise.all([direct.close(), proxy.close()]);
    await Promise.all([regctl.stop(), upstream.stop()]);
    await dirs.cleanup();
  }
  return { name: 'proxy', baseline: 'distribution 2.8 (filesystem), pulled directly', rows, notes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      'big-mib': { type: 'string' },
      'big-only': { type: 'boolean', default: false },
      'node-options': { type: 'string' },
    },
  });
  const report = await bench({
    scale: Number(values.scale),
    bigMiB: values['big-mib'] === undefined ? undefined : Number(values['big-mib']),
    bigOnly: values['big-only'],
    nodeOptions: values['node-options'],
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
}
