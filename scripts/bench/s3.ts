/**
 * Push and pull throughput of regctl on its s3 blob store against the CNCF distribution registry
 * (`docker-registry`, its `s3` storage driver), both on the same Ceph RADOS Gateway in the same
 * run, plus the registries' RSS while a 2 GiB blob is pushed.
 *
 *   node bin/run-ts.mjs scripts/bench/s3.ts [--size-mib 256] [--count 4] [--parallel 4] [--big-mib 2048]
 *     [--registries regctl,distribution] [--json]
 *
 * Ceph is started by scripts/ceph/start.sh on free ports (or reused from REGCTL_TEST_S3_*), with
 * STORE_GB raised so a 2 GiB blob fits twice. Blobs are pseudo-random (AES-CTR keystream, so
 * neither side can compress or dedupe them) and pushed like skopeo does: POST, one streamed PATCH,
 * PUT `?digest=`. Pulls stream the whole blob and discard it. Figures on these shared 2-core
 * machines drift from run to run: compare the ratios.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { type CephS3, startCeph } from '../../test/helpers/ceph.ts';
import { freePort } from '../../test/helpers/free-port.ts';
import { stopChild, waitForHttp } from '../../test/helpers/process.ts';
import { startRegctl } from '../../test/helpers/regctl-server.ts';

const MiB = 1024 * 1024;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: () => number;
  stop(): Promise<unknown>;
}

/** A deterministic incompressible stream of `size` bytes: the AES-256-CTR keystream of `seed`. */
function blobStream(seed: string, size: number): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < size; sent += MiB) yield cipher.update(zeros.subarray(0, Math.min(MiB, size - sent)));
    })(),
  );
}

async function blobDigest(seed: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of blobStream(seed, size)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

function call(
  method: string,
  url: string,
  body?: Readable,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function push(base: string, image: string, seed: string, size: number, digest: string): Promise<void> {
  const started = await call('POST', `${base}/v2/${image}/blobs/uploads/`);
  if (started.status !== 202) throw new Error(`POST upload: HTTP ${started.status}`);
  const location = new URL(String(started.headers.location), base).href;
  const patched = await call('PATCH', location, blobStream(seed, size), { 'content-type': 'application/octet-stream' });
  if (patched.status !== 202) throw new Error(`PATCH: HTTP ${patched.status}`);
  const next = new URL(String(patched.headers.location), base);
  next.searchParams.set('digest', digest);
  const put = await call('PUT', next.href, undefined, { 'content-length': '0' });
  if (put.status !== 201) throw new Error(`PUT ?digest: HTTP ${put.status}`);
}

async function pull(base: string, image: string, digest: string, size: number): Promise<void> {
  const got = await call('GET', `${base}/v2/${image}/blobs/${digest}`);
  if (got.status !== 200 || got.bytes !== size) throw new Error(`GET blob: HTTP ${got.status}, ${got.bytes} bytes`);
}

/** Peak RSS (MiB) of `pid` while `work` runs, sampled every 50 ms from /proc. */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

async function peakRss(pid: number, work: () => Promise<void>): Promise<{ peakMiB: number; idleMiB: number }> {
  const rss = () => rssMiB(pid);
  const idleMiB = rss();
  let peakMiB = idleMiB;
  const timer = setInterval(() => {
    peakMiB = Math.max(peakMiB, rss());
  }, 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { peakMiB: Math.round(peakMiB), idleMiB: Math.round(idleMiB) };
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

async function startDistributionS3(dir: string, ceph: CephS3): Promise<Target> {
  const port = await freePort();
  const config = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: {
      s3: {
        accesskey: ceph.accessKeyId,
        secretkey: ceph.secretAccessKey,
        region: ceph.region,
        regionendpoint: ceph.endpoint,
        bucket: ceph.bucket,
        forcepathstyle: true,
        secure: false,
        v4auth: true,
        chunksize: 16 * MiB,
        rootdirectory: `/distribution-${randomBytes(4).toString('hex')}`,
      },
      delete: { enabled: true },
      redirect: { disable: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
  };
  await writeFile(join(dir, 'distribution.yml'), stringify(config));
  const fd = openSync(join(dir, 'distribution.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn('docker-registry', ['serve', join(dir, 'distribution.yml')], {
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, // no AWS_CA_BUNDLE or proxies
    });
  } finally {
    closeSync(fd);
  }
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, {
    child,
    describe: () => readFileSync(join(dir, 'distribution.log'), 'utf8').slice(-3000),
  });
  return {
    name: 'distribution (s3)',
    url: `http://127.0.0.1:${port}`,
    pid: () => child.pid ?? 0,
    stop: () => stopChild(child),
  };
}

async function startRegctlS3(dir: string, ceph: CephS3): Promise<Target> {
  const server = await startRegctl({
    dir,
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
          prefix: `regctl-${randomBytes(4).toString('hex')}`,
          credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
        },
      ],
      repositories: [{ name: 'bench', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
      listeners: [{ host: '127.0.0.1', repository: 'bench' }],
    },
  });
  return { name: 'regctl (s3)', url: server.url, pid: () => server.pid(), stop: () => server.stop() };
}

export interface S3BenchRow {
  readonly registry: string;
  readonly pushMiBps: number;
  readonly pullMiBps: number;
  readonly parallelPushMiBps: number;
  readonly parallelPullMiBps: number;
  readonly bigPushSeconds: number;
  readonly bigPushPeakRssMiB: number;
  /** RSS right after the start, before any request. */
  readonly startRssMiB: number;
  /** RSS just before the big push (its first request). */
  readonly beforeBigRssMiB: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '256' },
      count: { type: 'string', default: '4' },
      parallel: { type: 'string', default: '4' },
      'big-mib': { type: 'string', default: '2048' },
      json: { type: 'boolean', default: false },
      registries: { type: 'string', default: 'regctl,distribution' },
    },
  });
  const size = Number(values['size-mib']) * MiB;
  const count = Number(values.count);
  const parallel = Number(values.parallel);
  const big = Number(values['big-mib']) * MiB;
  process.env.STORE_GB ??= String(Math.max(8, Math.ceil((big * 3 + size * (count + parallel) * 3) / 1024 ** 3) + 2));

  const dir = await mkdtemp(join(tmpdir(), 'regctl-bench-s3-'));
  const cephStart = performance.now();
  const ceph = await startCeph({ bucket: 'bench' });
  const cephSeconds = (performance.now() - cephStart) / 1000;
  const targets: Target[] = [];
  const rows: S3BenchRow[] = [];
  try {
    const wanted = values.registries.split(',');
    if (wanted.includes('regctl')) {
      await mkdir(join(dir, 'regctl'));
      targets.push(await startRegctlS3(join(dir, 'regctl'), ceph));
    }
    if (wanted.includes('distribution')) targets.push(await startDistributionS3(dir, ceph));
    const startRss = new Map(targets.map((target) => [target, Math.round(rssMiB(target.pid()))]));
    const seeds = Array.from({ length: count }, (_, i) => `blob-${i}-${randomBytes(4).toString('hex')}`);
    const digests = await Promise.all(seeds.map((seed) => blobDigest(seed, size)));
    const parallelSeeds = Array.from({ length: parallel }, (_, i) => `parallel-${i}-${randomBytes(4).toString('hex')}`);
    const parallelDigests = new Map<Target, string[]>();
    for (const target of targets) {
      const forTarget = parallelSeeds.map((seed) => blobDigest(`${seed}-${target.name}`, size));
      parallelDigests.set(target, await Promise.all(forTarget));
    }
    const bigSeed = `big-${randomBytes(4).toString('hex')}`;
    const bigDigest = await blobDigest(bigSeed, big);
    for (const target of targets) {
      const image = `bench/${target.name.startsWith('regctl') ? 'r' : 'd'}${randomBytes(3).toString('hex')}`;
      // The big push first, on a fresh process: its RSS peak is then the push's alone.
      let bigS = 0;
      const rss = await peakRss(target.pid(), async () => {
        bigS = await timed(() => push(target.url, `${image}-big`, bigSeed, big, bigDigest));
      });
      await pull(target.url, `${image}-big`, bigDigest, big);
      const pushS = await timed(async () => {
        for (let i = 0; i < count; i++) await push(target.url, image, seeds[i]!, size, digests[i]!);
      });
      const pullS = await timed(async () => {
        for (let i = 0; i < count; i++) await pull(target.url, image, digests[i]!, size);
      });
      // Other blobs for the parallel round, so no store can skip work because a blob exists.
      const pimage = `${image}-p`;
      const ppushS = await timed(async () => {
        await Promise.all(
          parallelSeeds.map((seed, i) =>
            push(target.url, pimage, `${seed}-${target.name}`, size, parallelDigests.get(target)![i]!),
          ),
        );
      });
      const ppullS = await timed(async () => {
        await Promise.all(parallelDigests.get(target)!.map((digest) => pull(target.url, pimage, digest, size)));
      });
      const mibps = (bytes: number, seconds: number) => Math.round(bytes / MiB / seconds);
      rows.push({
        registry: target.name,
        pushMiBps: mibps(size * count, pushS),
        pullMiBps: mibps(size * count, pullS),
        parallelPushMiBps: mibps(size * parallel, ppushS),
        parallelPullMiBps: mibps(size * parallel, ppullS),
        bigPushSeconds: Math.round(bigS * 10) / 10,
        bigPushPeakRssMiB: rss.peakMiB,
        startRssMiB: startRss.get(target) ?? 0,
        beforeBigRssMiB: rss.idleMiB,
      });
    }
  } finally {
    for (const target of targets) await target.stop().catch(() => undefined);
    await ceph.stop();
    await rm(dir, { recursive: true, force: true });
    agent.destroy();
  }
  const setup = {
    cephStartSeconds: Math.round(cephSeconds * 10) / 10,
    blobMiB: size / MiB,
    count,
    parallel,
    bigMiB: big / MiB,
  };
  if (values.json) {
    console.log(JSON.stringify({ setup, rows }, null, 2));
    return;
  }
  console.log(
    `Ceph RGW up in ${setup.cephStartSeconds} s; ${count} × ${setup.blobMiB} MiB sequential, ${parallel} parallel, one ${setup.bigMiB} MiB push`,
  );
  const bigLabel = `${setup.bigMiB} MiB push s`;
  console.log(
    `registry            push MiB/s  pull MiB/s  ‖push MiB/s  ‖pull MiB/s  ${bigLabel}  RSS MiB: start / before / peak`,
  );
  for (const row of rows) {
    console.log(
      `${row.registry.padEnd(18)}  ${String(row.pushMiBps).padStart(10)}  ${String(row.pullMiBps).padStart(10)}  ${String(row.parallelPushMiBps).padStart(11)}  ${String(row.parallelPullMiBps).padStart(11)}  ${String(row.bigPushSeconds).padStart(bigLabel.length)}  ${String(row.startRssMiB).padStart(13)} / ${String(row.beforeBigRssMiB).padStart(6)} / ${String(row.bigPushPeakRssMiB).padStart(4)}`,
    );
  }
  const [a, b] = rows;
  if (a && b) {
    const ratio = (x: number, y: number) => (y ? (x / y).toFixed(2) : 'n/a');
    console.log(
      `regctl / distribution: push ${ratio(a.pushMiBps, b.pushMiBps)}×, pull ${ratio(a.pullMiBps, b.pullMiBps)}×, parallel push ${ratio(a.parallelPushMiBps, b.parallelPushMiBps)}×, parallel pull ${ratio(a.parallelPullMiBps, b.parallelPullMiBps)}×`,
    );
  }
}

await main();
