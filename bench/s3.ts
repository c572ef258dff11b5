/**
 * regctl on its s3 blob store against the CNCF distribution registry (`docker-registry`, its `s3`
 * storage driver), both on the same Ceph RADOS Gateway in the same run (issue #6).
 *
 *   node bin/run-ts.mjs bench/s3.ts [--scale 0.25] [--only big,push,pull,parallel]
 *     [--big-mib 2048] [--registries regctl,distribution]          (or `npm run bench -- s3`)
 *
 * Phases, each for both registries, alternating which goes first:
 * - `big`: the idle RSS of the fresh process (median of 10 samples), then the peak RSS (every 25 ms)
 *   during a push of two parts and one byte and during one big push: the peak may exceed the fresh
 *   start by at most {@link RSS_GROWTH_BOUND_MIB}, and should not move between the two pushes
 *   (flat: memory does not depend on the blob size);
 * - `push` / `pull`: `count` blobs one after the other, best of {@link ROUNDS} rounds, with the
 *   server's CPU time per GiB moved (from /proc: user + system), which is far less noisy than
 *   MiB/s on a shared machine;
 * - `parallel`: `count` blobs at once, pushed then pulled.
 * Pushes go like skopeo's: POST, one streamed PATCH, PUT `?digest=`. Pulls are one curl process
 * per measurement (lib/curl.ts; sequential = one transfer at a time, parallel = `count` at once),
 * every transfer checked for status and size, bytes discarded. Ceph is started by
 * scripts/ceph/start.sh on free ports (or reused from REGCTL_TEST_S3_*); its memstore OSD holds
 * every object in RAM, so each phase deletes what the registries stored, and STORE_GB caps it (a
 * full store refuses writes instead of exhausting RAM).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { type CephS3, startCeph } from '../test/helpers/ceph.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { readLog, requireBinary, spawnLogged, stopChild, waitForHttp } from '../test/helpers/process.ts';
import { startRegctl } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { type BenchBlob, BlobFactory, MiB } from './lib/blobs.ts';
import { readCpuSeconds } from './lib/cpu.ts';
import { blobTransfers, curlPull } from './lib/curl.ts';
import type { Side } from './lib/rounds.ts';
import { idleRss, sampleRss } from './lib/rss.ts';
import { distributionS3Storage, regctlDirs } from './lib/servers.ts';
import { formatReport } from './lib/table.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';

const PHASES = ['big', 'push', 'pull', 'parallel'] as const;
const ROUNDS = 2;
/** Issue #6's bound: a push may grow the server's RSS by a few parts (16 MiB each), no more. */
export const RSS_GROWTH_BOUND_MIB = 64;
const PART_MIB = 16;

interface Target {
  readonly side: Side;
  readonly url: string;
  readonly pid: number;
  /** The key prefix of everything this registry stores in the bucket (wiped between phases). */
  readonly prefix: string;
  stop(): Promise<unknown>;
}

/** Options of {@link bench} beyond the shared ones. */
export interface S3BenchOptions extends BenchOptions {
  /** Size of the `big` phase's blob (default 2048 × scale, at least 256). */
  readonly bigMiB?: number;
  /** Which registries to run (default both). */
  readonly registries?: readonly Side[];
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(
  method: string,
  url: string,
  body?: Readable,
): Promise<{ status: number; location: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body ? { 'content-type': 'application/octet-stream' } : {};
    if (!body && method !== 'GET') headers['content-length'] = '0';
    const req = request(url, { method, agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: String(res.headers.location), bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function push(base: string, image: string, blob: BenchBlob): Promise<void> {
  const started = await call('POST', `${base}/v2/${image}/blobs/uploads/`);
  if (started.status !== 202) throw new Error(`POST upload: HTTP ${started.status}`);
  const patched = await call('PATCH', new URL(started.location, base).href, blob.stream());
  if (patched.status !== 202) throw new Error(`PATCH: HTTP ${patched.status}`);
  const next = new URL(patched.location, base);
  next.searchParams.set('digest', blob.digest);
  const put = await call('PUT', next.href);
  if (put.status !== 201) throw new Error(`PUT ?digest: HTTP ${put.status}`);
}

/**
 * Pulls `blobs` from `image` with one curl process, `parallel` at a time, every transfer checked
 * (status 200, exact size): curl's CPU per byte is a fraction of a Node client's, and it runs in its
 * own process, so the pull measures the server (and the gateway), not the client.
 */
async function pull(base: string, image: string, blobs: readonly BenchBlob[], parallel: number): Promise<void> {
  await curlPull({ transfers: blobTransfers(base, image, blobs), parallel });
}

/** CPU time (user + system) the process used so far, in ms; throws when it is gone. */
async function cpuMs(target: Target): Promise<number> {
  const seconds = await readCpuSeconds(target.pid);
  if (seconds === null) throw new Error(`s3: the ${target.side} server (pid ${target.pid}) is gone`);
  return seconds * 1000;
}

/** Runs `work` moving `bytes`: MiB/s over the wall time, and the server's CPU ms per GiB. */
async function measure(target: Target, bytes: number, work: () => Promise<unknown>) {
  const cpuBefore = await cpuMs(target);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  return { mibps: bytes / MiB / seconds, cpuMsPerGiB: ((await cpuMs(target)) - cpuBefore) / (bytes / 1024 / MiB) };
}

async function startDistributionS3(dir: string, ceph: CephS3): Promise<Target> {
  const prefix = `distribution-${randomBytes(4).toString('hex')}`;
  const binary = requireBinary('docker-registry', 'docker-registry');
  const port = await freePort();
  const config = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: {
      s3: distributionS3Storage(ceph, prefix, { chunksize: PART_MIB * MiB }),
      delete: { enabled: true },
      redirect: { disable: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
  };
  const configFile = join(dir, 'distribution.yml');
  const logFile = join(dir, 'distribution.log');
  await writeFile(configFile, stringify(config));
  // No AWS_CA_BUNDLE, proxies or cloud credentials from the caller's environment.
  const child = spawnLogged(binary, ['serve', configFile], logFile, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
  });
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, { child, describe: () => readLog(logFile).slice(-3000) });
  const url = `http://127.0.0.1:${port}`;
  return { side: 'distribution', url, pid: child.pid ?? 0, prefix, stop: () => stopChild(child) };
}

async function startRegctlS3(dir: string, ceph: CephS3): Promise<Target> {
  const prefix = `regctl-${randomBytes(4).toString('hex')}`;
  const server = await startRegctl({
    // The log outside the watched config folder, as in the hosted and proxy benchmarks.
    ...(await regctlDirs(dir)),
    env: { ...ceph.env },
    config: {
      blobStores: [
        {
          name: 'default',
          type: 's3',
          bucket: { env: 'S3_BUCKET' },
          endpoint: { env: 'S3_ENDPOINT' },
          region: ceph.region,
          forcePathStyle: true,
          prefix,
          partSize: `${PART_MIB}MiB`,
          credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
        },
      ],
      repositories: [{ name: 'bench', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
      listeners: [{ host: '127.0.0.1', repository: 'bench' }],
    },
  });
  return { side: 'regctl', url: server.url, pid: server.pid(), prefix, stop: () => server.stop() };
}

/**
 * Deletes everything a registry stored (a page of 1000 keys at a time, bounded): the gateway's
 * memstore keeps every object in RAM, so each phase starts from an empty prefix.
 */
async function wipe(ceph: CephS3, target: Target): Promise<void> {
  const client = new S3Client({
    region: ceph.region,
    endpoint: ceph.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
  });
  try {
    for (let page = 0; page < 10_000; page++) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: ceph.bucket, Prefix: `${target.prefix}/` }));
      const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }));
      if (keys.length === 0) return;
      await client.send(new DeleteObjectsCommand({ Bucket: ceph.bucket, Delete: { Objects: keys } }));
    }
  } finally {
    client.destroy();
  }
}

function row(metric: string, unit: string, r: number, d: number | undefined, target: string, pass: boolean | null) {
  const higherIsBetter = unit === 'MiB/s';
  const ratio = d === undefined || r === 0 || d === 0 ? null : higherIsBetter ? r / d : d / r;
  return { metric, unit, regctl: r, baseline: d ?? null, ratio, target, pass } satisfies BenchRow;
}

export async function bench(options: S3BenchOptions): Promise<BenchReport> {
  const { scale, log } = options;
  if (!(scale > 0)) throw new Error(`s3: the scale must be a positive number, got ${scale}`);
  const unknown = options.only?.filter((phase) => !(PHASES as readonly string[]).includes(phase)) ?? [];
  if (unknown.length) throw new Error(`s3: unknown phase ${unknown.join(', ')} (phases: ${PHASES.join(', ')})`);
  const want = (phase: (typeof PHASES)[number]) => !options.only || options.only.includes(phase);
  const size = Math.max(16, Math.round(256 * scale)) * MiB;
  const count = 4;
  const bigSize = (options.bigMiB ?? Math.max(256, Math.round(2048 * scale))) * MiB;
  // Phases wipe what they stored; the largest holds one big blob, copied once by each registry.
  process.env.STORE_GB ??= String(Math.max(6, Math.ceil((bigSize * 3 + size * count * 4) / 1024 ** 3) + 1));

  const dirs = new TmpDirs();
  const cephStarted = performance.now();
  const ceph = await startCeph({ bucket: 'bench' });
  log(`Ceph RGW up in ${((performance.now() - cephStarted) / 1000).toFixed(1)} s`);
  const targets: Target[] = [];
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  try {
    const sides = options.registries ?? ['regctl', 'distribution'];
    if (sides.includes('regctl')) targets.push(await startRegctlS3(await dirs.make('regctl-bench-s3-'), ceph));
    if (sides.includes('distribution')) targets.push(await startDistributionS3(await dirs.make('dist-s3-'), ceph));
    const factory = new BlobFactory();
    let seed = (Date.now() % 1_000_000) * 100;
    const blobs = (n: number, bytes: number) => Array.from({ length: n }, () => factory.create(seed++, bytes));
    const image = (target: Target, what: string) => `bench/${target.side}-${what}`;
    /** Both sides, ROUNDS times, alternating who goes first; the best figures of each side. */
    const bestOf = async (task: (target: Target) => Promise<{ mibps: number; cpuMsPerGiB: number }>) => {
      const best = new Map<Side, { mibps: number; cpuMsPerGiB: number }>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          const got = await task(target);
          const previous = best.get(target.side);
          best.set(target.side, {
            mibps: Math.max(previous?.mibps ?? 0, got.mibps),
            cpuMsPerGiB: Math.min(previous?.cpuMsPerGiB ?? Number.POSITIVE_INFINITY, got.cpuMsPerGiB),
          });
        }
      }
      return best;
    };
    const throughputRows = (what: string, best: Map<Side, { mibps: number; cpuMsPerGiB: number }>) => {
      const [r, d] = [best.get('regctl'), best.get('distribution')];
      const ratio = r && d ? r.mibps / d.mibps : null;
      rows.push(
        row(`${what} throughput`, 'MiB/s', r?.mibps ?? 0, d?.mibps, '≥ 1.0×', ratio === null ? null : ratio >= 1),
      );
      rows.push(row(`${what}: server CPU per GiB`, 'ms', r?.cpuMsPerGiB ?? 0, d?.cpuMsPerGiB, '–', null));
      log(
        `${what}: ${[...best].map(([side, b]) => `${side} ${b.mibps.toFixed(0)} MiB/s, ${b.cpuMsPerGiB.toFixed(0)} ms CPU/GiB`).join('; ')}`,
      );
    };

    if (want('big')) {
      log(`big: RSS from the fresh start, through a ${2 * PART_MIB + 1} MiB push, to one ${bigSize / MiB} MiB push`);
      const [small] = blobs(1, (2 * PART_MIB + 1) * MiB);
      const [big] = blobs(1, bigSize);
      const growth = new Map<Side, number>();
      for (const target of targets) {
        const fresh = await idleRss(target.pid);
        const smallSampler = sampleRss(target.pid, 25);
        await push(target.url, image(target, 'small'), small!);
        const smallPeak = (await smallSampler.stop()).peakBytes;
        const bigSampler = sampleRss(target.pid, 25);
        const { mibps } = await measure(target, bigSize, () => push(target.url, image(target, 'big'), big!));
        const { peakBytes, samples } = await bigSampler.stop();
        growth.set(target.side, (peakBytes - fresh) / MiB);
        await wipe(ceph, target);
        const mib = (bytes: number) => (bytes / MiB).toFixed(0);
        notes.push(
          `${target.side}: RSS fresh ${mib(fresh)} MiB, peak ${mib(smallPeak)} MiB during the ${mib(small!.size)} MiB push, ` +
            `${mib(peakBytes)} MiB during the ${mib(bigSize)} MiB push (${mibps.toFixed(0)} MiB/s, ${samples} samples)`,
        );
        log(notes.at(-1)!);
      }
      const r = growth.get('regctl') ?? 0;
      rows.push(
        row(
          `peak RSS growth over the fresh start, ${bigSize / MiB} MiB push`,
          'MiB',
          r,
          growth.get('distribution'),
          `≤ ${RSS_GROWTH_BOUND_MIB} MiB`,
          growth.has('regctl') ? r <= RSS_GROWTH_BOUND_MIB : null,
        ),
      );
    }

    const sequential = new Map(targets.map((target) => [target.side, blobs(count, size)]));
    if (want('push') || want('pull')) {
      log(`push: ${count} × ${size / MiB} MiB one after the other (the first round's blobs are then pulled)`);
      let round = 0;
      const pushed = await bestOf((target) => {
        // Fresh blobs every round: no store may skip work because a blob exists.
        const set = round++ < targets.length ? sequential.get(target.side)! : blobs(count, size);
        return measure(target, count * size, async () => {
          for (const blob of set) await push(target.url, image(target, 'seq'), blob);
        });
      });
      if (want('push')) throughputRows(`push, ${count} × ${size / MiB} MiB sequential`, pushed);
    }
    if (want('pull')) {
      const pulled = await bestOf((target) =>
        measure(target, count * size, async () => {
          await pull(target.url, image(target, 'seq'), sequential.get(target.side)!, 1);
        }),
      );
      throughputRows(`pull, ${count} × ${size / MiB} MiB sequential`, pulled);
    }
    for (const target of targets) await wipe(ceph, target);
    if (want('parallel')) {
      const parallel = new Map(targets.map((target) => [target.side, blobs(count, size)]));
      let round = 0;
      const pushed = await bestOf((target) => {
        const set = round++ < targets.length ? parallel.get(target.side)! : blobs(count, size);
        return measure(target, count * size, () =>
          Promise.all(set.map((blob) => push(target.url, image(target, 'par'), blob))),
        );
      });
      throughputRows(`push, ${count} × ${size / MiB} MiB in parallel`, pushed);
      const pulled = await bestOf((target) =>
        measure(target, count * size, () => pull(target.url, image(target, 'par'), parallel.get(target.side)!, count)),
      );
      throughputRows(`pull, ${count} × ${size / MiB} MiB in parallel`, pulled);
      for (const target of targets) await wipe(ceph, target);
    }
    notes.push(
      `one-node Ceph RGW (memstore) on loopback; regctl partSize ${PART_MIB} MiB, distribution chunksize ${PART_MIB} MiB; best of ${ROUNDS} rounds`,
    );
  } finally {
    for (const target of targets) await target.stop().catch(() => undefined);
    await ceph.stop();
    await dirs.cleanup();
    agent.destroy();
  }
  return { name: 's3', baseline: 'distribution 2.8 (docker-registry, s3 driver on the same RGW)', rows, notes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { values } = parseArgs({
      options: {
        scale: { type: 'string', default: '1' },
        only: { type: 'string' },
        'big-mib': { type: 'string' },
        registries: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const report = await bench({
      scale: Number(values.scale),
      ...(values.only === undefined ? {} : { only: values.only.split(',') }),
      ...(values['big-mib'] === undefined ? {} : { bigMiB: Number(values['big-mib']) }),
      ...(values.registries === undefined ? {} : { registries: values.registries.split(',') as Side[] }),
      log: (line) => process.stderr.write(`[s3] ${line}\n`),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  }
}
