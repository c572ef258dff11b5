/**
 * Garbage collection at scale (issue #17 item 7): regctl's online GC (`regctl gc`) against the CNCF
 * registry's offline `docker-registry garbage-collect`, each on a store of the same shape
 * (lib/gc-shape.ts: by default 100 000 blobs, 20 000 image manifests, 25 % garbage), in one run.
 *
 *   node bin/run-ts.mjs bench/gc.ts [--only file,serve,s3] [--manifests 20000] [--orphans 15000]
 *     [--s3-manifests 4000] [--s3-orphans 3000] [--s3-without-distribution] [--load-seconds 10]
 *     (or `npm run bench -- gc`)
 *
 * Phases:
 * - `file`: regctl's file store and distribution's filesystem driver. Each collector runs as its
 *   own process under GNU time (lib/timed-run.ts): wall time, peak RSS, what it deleted. regctl
 *   runs with `gc.settle: '0s'`, so the wall time is the pass itself (the default settle waits up
 *   to 60 s before the last journal read, by design: docs/gc.md); distribution runs plain and with
 *   `--delete-untagged` (the like-for-like one: regctl deletes untagged manifests), each on its own
 *   copy of the store.
 * - `serve`: `regctl serve` on a fresh copy of the file store, manifest GETs by tag with wrk
 *   (paced: 4 connections, 5 ms between an answer and the next request; and saturating: 8
 *   connections), p99 idle and during a `regctl gc` pass run against the same config (online).
 * - `s3`: the same for regctl's s3 store and distribution's s3 driver on one Ceph RGW, at the
 *   smaller `--s3-manifests` scale (seeding one object per request is the slow part; its time is
 *   reported apart from the GC's).
 *
 * Stores are seeded directly (lib/gc-seed.ts: the BlobStore API and hosted metadata documents for
 * regctl, distribution's layout for distribution), with link times two hours back and a grace
 * period of 1 s, so everything seeded is old enough to collect.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { buildPlan } from '../compiler/build.ts';
import type { GcReport } from '../runtime/gc/collector.ts';
import { openPlanStores } from '../runtime/storage/index.ts';
import type { ConfigInput } from '../schema/index.ts';
import { type CephS3, s3StoreConfig, startCeph } from '../test/helpers/ceph.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { configSource, REPO_ROOT, startRegctl, type TestConfig } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { seedDistributionFiles, seedDistributionS3, seedRegctlStore } from './lib/gc-seed.ts';
import { buildGcShape, type GcShape, MANIFEST_MEDIA_TYPE } from './lib/gc-shape.ts';
import { distributionS3Storage, regctlDirs } from './lib/servers.ts';
import { formatReport } from './lib/table.ts';
import { type TimedResult, timedRun } from './lib/timed-run.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';
import { runWrk } from './lib/wrk.ts';

const PHASES = ['file', 'serve', 's3'] as const;
/** regctl's hosted repository; distribution's repositories are `bench/<image>`. */
const REPOSITORY = 'bench';
const HOUR = 3_600_000;
const SEED_CONCURRENCY = 32;
const GC_TIMEOUT_MS = 30 * 60_000;
/** The issue's targets. */
const TARGET_SECONDS = 30;
const TARGET_RSS_MIB = 200;
const MiB = 1024 * 1024;

export interface GcBenchOptions extends BenchOptions {
  readonly manifests?: number;
  readonly orphans?: number;
  readonly s3Manifests?: number;
  readonly s3Orphans?: number;
  /** Seconds of each wrk run (idle, and during the pass: at most this, less for a short pass). */
  readonly loadSeconds?: number;
  /**
   * Skip distribution on S3 (`--s3-without-distribution`): its pass makes one sequential request
   * per manifest and tag and did not finish within 21 minutes at the default S3 scale.
   */
  readonly s3WithoutDistribution?: boolean;
}

/** A multiple of 16 near `n` (the shape's unit). */
const sixteens = (n: number) => Math.max(16, Math.round(n / 16) * 16);

const loadAverage = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

/** regctl's config for a store: one hosted repository, gc with a 1 s grace and no settle wait. */
async function regctlConfig(store: ConfigInput['blobStores'][number]): Promise<TestConfig> {
  return {
    blobStores: [store],
    repositories: [{ name: REPOSITORY, type: 'hosted', anonymous: ['pull'] }],
    listeners: [{ host: '127.0.0.1', port: await freePort(), repository: REPOSITORY }],
    gc: { gracePeriod: '1s', settle: '0s' },
  } as TestConfig;
}

async function writeConfig(dir: string, config: TestConfig): Promise<string> {
  const file = join(dir, 'registry.config.ts');
  await writeFile(file, configSource(config as ConfigInput));
  return file;
}

/** Seeds the stores of `configFile` with `shape` through the BlobStore API; returns the seconds taken. */
async function seedRegctl(configFile: string, shape: GcShape, env: NodeJS.ProcessEnv): Promise<number> {
  const built = await buildPlan({ configPath: configFile, env });
  if (!built.ok) throw new Error(`gc bench: the generated config does not build: ${JSON.stringify(built.diagnostics)}`);
  const stores = await openPlanStores(built.plan, { env });
  const started = performance.now();
  try {
    for (const store of stores.values())
      await seedRegctlStore(store, shape, {
        repository: REPOSITORY,
        linkedAt: Date.now() - 2 * HOUR,
        concurrency: SEED_CONCURRENCY,
      });
  } finally {
    for (const store of stores.values()) await store.close();
  }
  return (performance.now() - started) / 1000;
}

interface GcRun {
  readonly wallSeconds: number;
  readonly peakRssMiB: number;
  readonly cpuSeconds: number;
  readonly scannedBlobs: number | null;
  readonly deletedBlobs: number;
  readonly deletedManifests: number;
  readonly reclaimedBytes: number | null;
  /** The pass's own duration as it reports it (regctl), else null. */
  readonly passSeconds: number | null;
}

const regctlBin = join(REPO_ROOT, 'bin/regctl.mjs');

async function runRegctlGc(configFile: string, env: NodeJS.ProcessEnv): Promise<GcRun> {
  const result = await timedRun(process.execPath, [regctlBin, 'gc', '--config', configFile, '--json'], {
    env: { ...process.env, ...env },
    timeoutMs: GC_TIMEOUT_MS,
  });
  const [report] = JSON.parse(result.stdout) as GcReport[];
  if (report === undefined) throw new Error('regctl gc --json printed no report');
  if (report.skipped) throw new Error(`regctl gc skipped the store: lease held by ${report.skipped.heldBy.holder}`);
  return {
    ...figures(result),
    scannedBlobs: report.scanned.blobs,
    deletedBlobs: report.deleted.blobs.length,
    deletedManifests: report.deleted.manifests.length,
    reclaimedBytes: report.reclaimedBytes,
    passSeconds: report.durationMs / 1000,
  };
}

function figures(result: TimedResult) {
  return {
    wallSeconds: result.wallMs / 1000,
    peakRssMiB: result.peakRssMiB,
    cpuSeconds: result.userSeconds + result.systemSeconds,
  };
}

/** `N blobs marked, M blobs and K manifests eligible for deletion`, distribution's last line. */
export function parseDistributionSummary(output: string): { marked: number; blobs: number; manifests: number } {
  const match = /(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion/.exec(output);
  if (!match) throw new Error(`docker-registry garbage-collect printed no summary:\n${output.slice(-2000)}`);
  return { marked: Number(match[1]), blobs: Number(match[2]), manifests: Number(match[3]) };
}

async function runDistributionGc(
  dir: string,
  storage: Record<string, unknown>,
  deleteUntagged: boolean,
): Promise<GcRun> {
  const binary = requireBinary('docker-registry', 'docker-registry');
  const configFile = join(dir, `distribution-gc${deleteUntagged ? '-untagged' : ''}.yml`);
  await writeFile(
    configFile,
    stringify({ version: 0.1, log: { level: 'error' }, storage: { ...storage, delete: { enabled: true } } }),
  );
  const args = ['garbage-collect', ...(deleteUntagged ? ['--delete-untagged'] : []), configFile];
  // No AWS_CA_BUNDLE, proxies or cloud credentials from the caller's environment (PEERS.md).
  const result = await timedRun(binary, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    timeoutMs: GC_TIMEOUT_MS,
  });
  const summary = parseDistributionSummary(result.stdout + result.stderr);
  return {
    ...figures(result),
    scannedBlobs: null,
    deletedBlobs: summary.blobs,
    deletedManifests: summary.manifests,
    reclaimedBytes: null,
    passSeconds: null,
  };
}

function row(
  metric: string,
  unit: string,
  regctl: number,
  baseline: number | null,
  lowerIsBetter: boolean,
  target = '',
  pass: boolean | null = null,
): BenchRow {
  const ratio =
    baseline === null || regctl === 0 || baseline === 0 ? null : lowerIsBetter ? baseline / regctl : regctl / baseline;
  return { metric, unit, regctl, baseline, ratio, target, pass };
}

/** The rows of one store's comparison. */
function gcRows(
  kind: string,
  shape: GcShape,
  regctl: GcRun,
  distribution: GcRun | null,
  withTargets: boolean,
): BenchRow[] {
  const blobs = `${shape.blobCount / 1000}k blobs`;
  return [
    row(
      `GC pass, ${kind}, ${blobs}: wall time (vs distribution --delete-untagged)`,
      's',
      regctl.wallSeconds,
      distribution?.wallSeconds ?? null,
      true,
      withTargets ? `< ${TARGET_SECONDS} s` : '',
      withTargets ? regctl.wallSeconds < TARGET_SECONDS : null,
    ),
    row(`GC pass, ${kind}: the pass alone (regctl's durationMs, settle 0 s)`, 's', regctl.passSeconds ?? 0, null, true),
    row(
      `GC pass, ${kind}: peak RSS of the process`,
      'MiB',
      regctl.peakRssMiB,
      distribution?.peakRssMiB ?? null,
      true,
      withTargets ? `< ${TARGET_RSS_MIB} MiB` : '',
      withTargets ? regctl.peakRssMiB < TARGET_RSS_MIB : null,
    ),
    row(`GC pass, ${kind}: CPU time (user + system)`, 's', regctl.cpuSeconds, distribution?.cpuSeconds ?? null, true),
    row(`GC pass, ${kind}: blobs scanned`, 'blobs', regctl.scannedBlobs ?? 0, null, false),
    row(
      `GC pass, ${kind}: blobs deleted (expected ${shape.garbage.untaggedIncluded.blobs})`,
      'blobs',
      regctl.deletedBlobs,
      distribution?.deletedBlobs ?? null,
      false,
      `= ${shape.garbage.untaggedIncluded.blobs}`,
      regctl.deletedBlobs === shape.garbage.untaggedIncluded.blobs,
    ),
    row(
      `GC pass, ${kind}: bytes reclaimed (expected ${(shape.garbage.untaggedIncluded.bytes / MiB).toFixed(1)})`,
      'MiB',
      (regctl.reclaimedBytes ?? 0) / MiB,
      null,
      false,
    ),
  ];
}

function describeRun(side: string, run: GcRun): string {
  return `${side}: ${run.wallSeconds.toFixed(2)} s wall, ${run.cpuSeconds.toFixed(2)} s CPU, peak RSS ${run.peakRssMiB.toFixed(1)} MiB, ${run.deletedBlobs} blobs and ${run.deletedManifests} manifests deleted`;
}

export async function bench(options: GcBenchOptions): Promise<BenchReport> {
  const { log } = options;
  const scale = options.scale;
  if (!(scale > 0)) throw new Error(`gc: the scale must be a positive number, got ${scale}`);
  const unknown = options.only?.filter((phase) => !(PHASES as readonly string[]).includes(phase)) ?? [];
  if (unknown.length) throw new Error(`gc: unknown phase ${unknown.join(', ')} (phases: ${PHASES.join(', ')})`);
  const want = (phase: (typeof PHASES)[number]) => !options.only || options.only.includes(phase);
  const shape = buildGcShape({
    manifests: sixteens(options.manifests ?? 20_000 * scale),
    orphans: Math.round(options.orphans ?? 15_000 * scale),
  });
  const loadSeconds = options.loadSeconds ?? 10;
  const rows: BenchRow[] = [];
  const notes: string[] = [
    `shape: ${shape.blobCount} blobs (${(shape.blobBytes / MiB).toFixed(0)} MiB), ${shape.manifests.length} image manifests (config + 3 layers, one base layer per 4 manifests) in ${shape.images.length} images, ${shape.orphans.length} orphan uploads; garbage ${shape.garbage.untaggedIncluded.blobs} blobs (${(shape.garbage.untaggedIncluded.bytes / MiB).toFixed(1)} MiB), ${shape.garbage.untaggedKept.blobs} of them without counting untagged manifests`,
    `load average at start: ${await loadAverage()} (2 cores shared with other work)`,
  ];
  const dirs = new TmpDirs();
  try {
    const base = await dirs.make('regctl-gc-bench-');
    // The development bundle (bin/dev-bundle.mjs) is built on the first run of a stale checkout: not measured.
    await timedRun(process.execPath, [regctlBin, '--version'], { timeoutMs: 120_000 });

    let pristine: string | undefined;
    let gcAloneSeconds = 20;
    if (want('file') || want('serve')) {
      const storeDir = join(base, 'regctl-store');
      const configFile = await writeConfig(
        await dirs.make('regctl-gc-cfg-'),
        await regctlConfig({ name: 'default', type: 'file', path: storeDir }),
      );
      log(`seeding regctl's file store: ${shape.blobCount} blobs`);
      const seeded = await seedRegctl(configFile, shape, process.env);
      pristine = join(base, 'regctl-pristine');
      await cp(storeDir, pristine, { recursive: true });
      notes.push(
        `file: seeding regctl's store took ${seeded.toFixed(1)} s (BlobStore API, ${SEED_CONCURRENCY} writes at a time)`,
      );
      if (want('file')) {
        const distRoot = join(base, 'dist-store');
        const started = performance.now();
        await seedDistributionFiles(distRoot, shape, { repository: REPOSITORY, concurrency: SEED_CONCURRENCY });
        notes.push(`file: writing distribution's layout took ${((performance.now() - started) / 1000).toFixed(1)} s`);
        const distUntagged = join(base, 'dist-store-untagged');
        await cp(distRoot, distUntagged, { recursive: true });
        await new Promise((resolve) => setTimeout(resolve, 1100)); // past the 1 s grace period
        log('regctl gc (file)');
        const regctl = await runRegctlGc(configFile, {});
        log(describeRun('regctl', regctl));
        log('docker-registry garbage-collect (filesystem)');
        const plain = await runDistributionGc(base, { filesystem: { rootdirectory: distRoot } }, false);
        log(describeRun('distribution', plain));
        log('docker-registry garbage-collect --delete-untagged (filesystem)');
        const untagged = await runDistributionGc(base, { filesystem: { rootdirectory: distUntagged } }, true);
        log(describeRun('distribution --delete-untagged', untagged));
        gcAloneSeconds = regctl.wallSeconds;
        rows.push(...gcRows('file', shape, regctl, untagged, true));
        rows.push(
          row(
            'GC pass, file: wall time (vs distribution without --delete-untagged)',
            's',
            regctl.wallSeconds,
            plain.wallSeconds,
            true,
          ),
          row(
            'GC pass, file: peak RSS (vs distribution without --delete-untagged)',
            'MiB',
            regctl.peakRssMiB,
            plain.peakRssMiB,
            true,
          ),
        );
        notes.push(
          `file: ${describeRun('regctl', regctl)}`,
          `file: ${describeRun('distribution --delete-untagged', untagged)}`,
          `file: ${describeRun('distribution', plain)} (expected ${shape.garbage.untaggedKept.blobs} blobs: untagged manifests kept)`,
          `load average after the file phase: ${await loadAverage()}`,
        );
        await rm(distRoot, { recursive: true, force: true });
        await rm(distUntagged, { recursive: true, force: true });
      }
      await rm(storeDir, { recursive: true, force: true });
    }

    if (want('serve') && pristine !== undefined) {
      rows.push(...(await servePhase(dirs, base, pristine, shape, loadSeconds, gcAloneSeconds, notes, log)));
      notes.push(`load average after the serve phase: ${await loadAverage()}`);
    }
    if (pristine !== undefined) await rm(pristine, { recursive: true, force: true });

    if (want('s3')) {
      const s3Shape = buildGcShape({
        manifests: sixteens(options.s3Manifests ?? 4000 * scale),
        orphans: Math.round(options.s3Orphans ?? 3000 * scale),
      });
      try {
        rows.push(...(await s3Phase(dirs, base, s3Shape, notes, log, options.s3WithoutDistribution === true)));
        notes.push(`load average after the s3 phase: ${await loadAverage()}`);
      } catch (error) {
        // The figures of the other phases still print; the failure shows as a row that is not met.
        const reason = error instanceof Error ? error.message : String(error);
        log(`s3 phase failed: ${reason}`);
        notes.push(`s3 phase FAILED: ${reason.split('\n')[0]}`);
        rows.push(row('GC pass, s3: phase completed', 'phases', 0, null, false, '= 1', false));
      }
    }
  } finally {
    await dirs.cleanup();
  }
  return {
    name: 'gc',
    baseline: 'distribution 2.8 (docker-registry garbage-collect, same shape, same run)',
    rows,
    notes,
  };
}

/** Waits (bounded) until `/-/status` shows a first usage measurement of the stores. */
async function usageMeasured(origin: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const status = (await (await fetch(`${origin}/-/status`)).json()) as { storage?: { usage?: unknown[] } };
    if ((status.storage?.usage ?? []).length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('serve did not measure its stores within 120 s');
}

/** p99 of manifest GETs idle and during a `regctl gc` pass, each load on a fresh copy of the store. */
async function servePhase(
  dirs: TmpDirs,
  base: string,
  pristine: string,
  shape: GcShape,
  loadSeconds: number,
  gcAloneSeconds: number,
  notes: string[],
  log: (line: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const storeDir = join(base, 'serve-store');
  const root = await dirs.make('regctl-gc-serve-');
  const config = await regctlConfig({ name: 'default', type: 'file', path: storeDir });
  const tagged = shape.manifests.find((m) => m.fate === 'tagged')!;
  const loads = [
    { name: 'paced (4 connections, 5 ms pause)', connections: 4, delayMs: 5 },
    { name: 'saturating (8 connections)', connections: 8 },
  ];
  try {
    for (const load of loads) {
      await rm(storeDir, { recursive: true, force: true });
      await cp(pristine, storeDir, { recursive: true });
      const server = await startRegctl({ ...(await regctlDirs(root)), config });
      try {
        const wrk = (seconds: number, warmupSeconds: number) =>
          runWrk({
            origin: server.url,
            method: 'GET',
            path: `/v2/${tagged.image}/manifests/${tagged.tag}`,
            headers: { accept: MANIFEST_MEDIA_TYPE },
            connections: load.connections,
            seconds,
            warmupSeconds,
            ...(load.delayMs === undefined ? {} : { delayMs: load.delayMs }),
          });
        // Idle means idle: serve measures its stores' usage a few seconds after start (one listing
        // of every blob, runtime/gc/scheduler.ts), which must not fall into the idle run.
        await usageMeasured(server.url);
        const idle = await wrk(loadSeconds, 1);
        // The pass runs online against the serving config; the load starts once its process is up.
        const gcStarted = performance.now();
        let gcEnded = 0;
        const gc = runRegctlGc(server.configFile, {}).finally(() => {
          gcEnded = performance.now();
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const during = Math.max(2, Math.min(loadSeconds, Math.floor(gcAloneSeconds * 0.8)));
        const busy = await wrk(during, 0);
        const loadEnded = performance.now();
        const pass = await gc;
        const inside = gcEnded >= loadEnded;
        log(
          `serve ${load.name}: p99 idle ${idle.p99Ms} ms, during GC ${busy.p99Ms} ms; gc ${pass.wallSeconds.toFixed(1)} s`,
        );
        rows.push(
          row(`manifest GET p99, ${load.name}: idle`, 'ms', idle.p99Ms, null, true),
          row(
            `manifest GET p99, ${load.name}: during a GC pass (÷ idle)`,
            'ms',
            busy.p99Ms,
            null,
            true,
            '≤ 2× idle',
            busy.p99Ms <= 2 * idle.p99Ms,
          ),
        );
        notes.push(
          `serve, ${load.name}: idle ${idle.rps.toFixed(0)} req/s p50 ${idle.p50Ms} ms p99 ${idle.p99Ms} ms; during GC ${busy.rps.toFixed(0)} req/s p50 ${busy.p50Ms} ms p99 ${busy.p99Ms} ms (${(busy.p99Ms / idle.p99Ms).toFixed(2)}× idle), ${busy.errors + idle.errors} errors; the pass under load: ${pass.wallSeconds.toFixed(1)} s, peak RSS ${pass.peakRssMiB.toFixed(1)} MiB, ${pass.deletedBlobs} blobs deleted; ${inside ? `the ${during} s load ran inside the pass` : `the pass ended ${((loadEnded - gcEnded) / 1000).toFixed(1)} s before the load did`} (pass started ${((loadEnded - gcStarted) / 1000 - during).toFixed(1)} s before the load)`,
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
  return rows;
}

/** regctl's s3 store and distribution's s3 driver on one Ceph RGW, each seeded with `shape`. */
async function s3Phase(
  dirs: TmpDirs,
  base: string,
  shape: GcShape,
  notes: string[],
  log: (line: string) => void,
  withoutDistribution: boolean,
): Promise<BenchRow[]> {
  process.env.STORE_GB ??= '4';
  const cephStarted = performance.now();
  const ceph: CephS3 = await startCeph({ bucket: 'bench' });
  log(`Ceph RGW up in ${((performance.now() - cephStarted) / 1000).toFixed(1)} s`);
  try {
    const env = { ...ceph.env };
    const regctlPrefix = `regctl-gc-${Date.now()}`;
    const configFile = await writeConfig(
      await dirs.make('regctl-gc-s3-'),
      await regctlConfig(s3StoreConfig(regctlPrefix)),
    );
    log(`seeding regctl's s3 store: ${shape.blobCount} blobs`);
    const regctlSeed = await seedRegctl(configFile, shape, { ...process.env, ...env });
    let distribution: { prefix: string; objects: number; seconds: number } | undefined;
    if (!withoutDistribution) {
      const client = new S3Client({
        endpoint: ceph.endpoint,
        region: ceph.region,
        forcePathStyle: true,
        credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 5,
      });
      const prefix = `distribution-gc-${Date.now()}`;
      log(`seeding distribution's s3 layout: ${shape.blobCount} blobs`);
      const started = performance.now();
      const objects = await seedDistributionS3(client, shape, {
        bucket: ceph.bucket,
        prefix,
        repository: REPOSITORY,
        concurrency: SEED_CONCURRENCY,
      });
      distribution = { prefix, objects, seconds: (performance.now() - started) / 1000 };
      client.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 1100));
    log('regctl gc (s3)');
    const regctl = await runRegctlGc(configFile, env);
    log(describeRun('regctl', regctl));
    notes.push(
      `s3 (Ceph RGW, memstore, one node on loopback), at ${shape.blobCount} blobs / ${shape.manifests.length} manifests (a fifth of the file scale; not extrapolated): seeding regctl's store took ${regctlSeed.toFixed(1)} s${distribution === undefined ? '' : `, distribution's ${distribution.objects} objects ${distribution.seconds.toFixed(1)} s`} (${SEED_CONCURRENCY} PUTs at a time)`,
      `s3: ${describeRun('regctl', regctl)}`,
    );
    let untagged: GcRun | null = null;
    if (distribution === undefined) notes.push('s3: distribution not run (--s3-without-distribution)');
    else {
      log('docker-registry garbage-collect --delete-untagged (s3)');
      const storage = { s3: distributionS3Storage(ceph, distribution.prefix) };
      untagged = await runDistributionGc(base, storage, true);
      log(describeRun('distribution --delete-untagged', untagged));
      notes.push(`s3: ${describeRun('distribution --delete-untagged', untagged)}`);
    }
    return gcRows('s3', shape, regctl, untagged, false);
  } finally {
    await ceph.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { values } = parseArgs({
      options: {
        scale: { type: 'string', default: '1' },
        only: { type: 'string' },
        manifests: { type: 'string' },
        orphans: { type: 'string' },
        's3-manifests': { type: 'string' },
        's3-orphans': { type: 'string' },
        'load-seconds': { type: 'string' },
        's3-without-distribution': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    });
    const number = (name: keyof typeof values) =>
      values[name] === undefined
        ? {}
        : { [name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())]: Number(values[name]) };
    const report = await bench({
      scale: Number(values.scale),
      ...(values.only === undefined ? {} : { only: values.only.split(',') }),
      ...number('manifests'),
      ...number('orphans'),
      ...number('s3-manifests'),
      ...number('s3-orphans'),
      ...number('load-seconds'),
      s3WithoutDistribution: values['s3-without-distribution'],
      log: (line) => process.stderr.write(`[gc] ${line}\n`),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  }
}
