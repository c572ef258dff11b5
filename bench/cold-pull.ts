/**
 * Cold pull of a whole image by skopeo, three ways side by side in one run, on loopback:
 *
 * - `direct`: from the upstream itself (the CNCF distribution registry, filesystem storage);
 * - `regctl`: through regctl's proxy repository in front of that upstream (file blob store);
 * - `distribution`: through distribution's own pull-through mode (`proxy.remoteurl`) in front of it.
 *
 *   node bin/run-ts.mjs bench/cold-pull.ts [--rounds 5] [--layers 4] [--layer-mib 50] [--fresh-process]
 *     [--only direct,regctl,distribution] [--node-options=STR]   (or `npm run bench -- cold-pull`)
 *
 * Every round pulls with cold caches: a fresh pull-through distribution, and for regctl a proxy
 * repository with its own blob store that has never been used, in one regctl process warmed up
 * by a pull of another image before the rounds (a deployment's process is warm); with
 * `--fresh-process`, a new regctl process each round instead (its code not yet optimised by V8).
 * Each pull is `skopeo copy docker://… dir:…` to a fresh destination, the order of the
 * contestants rotated each round; the upstream serves every pull from its page cache. Prints each
 * round with the CPU seconds skopeo, the upstream and the proxy in between spent on it and the load
 * average around it, then the medians (min–max) of the wall times; the target is regctl ≤ 1.1×
 * direct. `--node-options` starts regctl with NODE_OPTIONS (an `--import` of a profiler hook).
 */
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createContainersTools } from '../test/helpers/clients.ts';
import { type Distribution, startDistribution } from '../test/helpers/distribution.ts';
import { requireBinary } from '../test/helpers/process.ts';
import { type RegctlServer, startRegctl } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { type BenchBlob, BlobFactory, MiB } from './lib/blobs.ts';
import { formatSpread, parsePick, rotation, spreadOf } from './lib/contestants.ts';
import { readCpuSeconds } from './lib/cpu.ts';
import { RegistryClient } from './lib/registry-client.ts';
import { pairedRatio } from './lib/rounds.ts';
import { regctlDirs } from './lib/servers.ts';
import { formatReport } from './lib/table.ts';
import { timedRun } from './lib/timed-run.ts';
import type { BenchOptions, BenchReport, BenchRow } from './lib/types.ts';

const CONTESTANTS = ['direct', 'regctl', 'distribution'] as const;
type Contestant = (typeof CONTESTANTS)[number];
const NAME = 'bench/cold';
const TAG = 'v1';
/** A small image pulled once through the warm regctl before the rounds. */
const WARMUP_NAME = 'bench/warmup';

/** The cold-pull benchmark's own knobs, on top of the shared ones. */
export interface ColdPullOptions extends BenchOptions {
  /** Rounds (default 5). */
  readonly rounds?: number;
  /** Layers of the image (default 4). */
  readonly layers?: number;
  /** MiB per layer (default 50 × scale, at least 1). */
  readonly layerMiB?: number;
  /** Which contestants (default all three). */
  readonly contestants?: readonly Contestant[];
  /**
   * A new regctl process each round (its code not yet optimised by V8) instead of one process,
   * warmed up by a pull of another image, with a new proxy repository and store each round.
   */
  readonly freshProcess?: boolean;
  /** NODE_OPTIONS for the regctl processes. */
  readonly nodeOptions?: string;
}

/** Pushes an OCI image of `layers` to `client` as NAME:TAG; the layers are generated, incompressible. */
async function seedImage(client: RegistryClient, name: string, layers: readonly BenchBlob[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await client.pushMonolithic(name, {
    digest: configDigest,
    size: config.length,
    stream: () => Readable.from([config]),
  });
  for (const layer of layers) await client.pushMonolithic(name, layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: l.digest,
      size: l.size,
    })),
  };
  await client.putManifest(name, TAG, Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
}

/** CPU seconds of `pid` so far (0 without one, or when it is gone). */
async function cpuOf(pid: number | undefined): Promise<number> {
  return pid === undefined ? 0 : ((await readCpuSeconds(pid)) ?? 0);
}

const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

export async function bench(options: ColdPullOptions): Promise<BenchReport> {
  const { scale, log } = options;
  const rounds = options.rounds ?? 5;
  const layerCount = options.layers ?? 4;
  const layerMiB = options.layerMiB ?? Math.max(1, Math.round(50 * scale));
  const contestants = options.contestants ?? CONTESTANTS;
  const freshProcess = options.freshProcess ?? false;
  if (!(Number.isInteger(rounds) && rounds > 0 && rounds <= 50)) {
    throw new Error(`cold-pull: --rounds 1..50, got ${rounds}`);
  }
  if (!(Number.isInteger(layerCount) && layerCount > 0 && layerCount <= 64)) {
    throw new Error(`cold-pull: --layers 1..64, got ${layerCount}`);
  }
  if (!(Number.isInteger(layerMiB) && layerMiB > 0 && layerMiB <= 4096)) {
    throw new Error(`cold-pull: --layer-mib 1..4096, got ${layerMiB}`);
  }
  requireBinary('/usr/bin/time', 'time');
  const skopeo = requireBinary('skopeo', 'skopeo');
  const dirs = new TmpDirs();
  const tools = await createContainersTools(await dirs.make('cold-pull-tools-'));
  const upstream = await startDistribution({ dir: await dirs.make('cold-pull-upstream-') });
  const samples: Record<Contestant, number[]> = { direct: [], regctl: [], distribution: [] };
  const notes: string[] = [];
  let warmRegctl: RegctlServer | undefined;
  try {
    const factory = new BlobFactory();
    const seeder = new RegistryClient(upstream.url, { connections: 2 });
    try {
      await seedImage(
        seeder,
        NAME,
        Array.from({ length: layerCount }, (_, i) => factory.create(7000 + i, layerMiB * MiB)),
      );
      await seedImage(
        seeder,
        WARMUP_NAME,
        Array.from({ length: 4 }, (_, i) => factory.create(8000 + i, 8 * MiB)),
      );
    } finally {
      await seeder.close();
    }
    const imageMiB = layerCount * layerMiB;
    log(
      `image: ${layerCount} × ${layerMiB} MiB = ${imageMiB} MiB; ${rounds} rounds of ${contestants.join(', ')}; ` +
        (freshProcess ? 'a fresh regctl process each round' : 'one warmed-up regctl, a fresh cache each round'),
    );

    /** skopeo copy of `reference` into a fresh dir, timed by GNU time: wall ms and skopeo's CPU seconds. */
    const env = {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: join(tools.dir, 'registries.conf'),
      REGISTRY_AUTH_FILE: tools.authFile,
    };
    const pull = async (reference: string): Promise<{ ms: number; cpu: number }> => {
      const out = join(await dirs.make('cold-pull-out-'), 'image');
      const args = ['--policy', join(tools.dir, 'policy.json'), 'copy', '--quiet', '--src-tls-verify=false'];
      const run = await timedRun(skopeo, [...args, `docker://${reference}`, `dir:${out}`], { env, timeoutMs: 600_000 });
      return { ms: run.wallMs, cpu: run.userSeconds + run.systemSeconds };
    };
    const startProxy = async (repositories: readonly string[]) =>
      startRegctl({
        ...(await regctlDirs(await dirs.make('cold-pull-regctl-'))),
        config: regctlConfig(upstream.url, repositories),
        env: options.nodeOptions === undefined ? {} : { NODE_OPTIONS: options.nodeOptions },
      });
    if (!freshProcess && contestants.includes('regctl')) {
      // One process for every round, each round on a proxy repository of its own (its own store,
      // never used before), after a warm-up pull of another image: a deployment's process is warm.
      warmRegctl = await startProxy(['warmup', ...Array.from({ length: rounds }, (_, i) => `round-${i + 1}`)]);
      await pull(`${warmRegctl.host}/warmup/${WARMUP_NAME}:${TAG}`);
    }

    for (let round = 0; round < rounds; round++) {
      // Fresh caches, started before the clock: a pull-through distribution, and regctl's
      // repository of this round (or a new regctl process).
      let freshRegctl: RegctlServer | undefined;
      let pullThrough: Distribution | undefined;
      try {
        if (freshProcess && contestants.includes('regctl')) freshRegctl = await startProxy([`round-${round + 1}`]);
        const regctl = freshRegctl ?? warmRegctl;
        if (contestants.includes('distribution')) {
          pullThrough = await startDistribution({
            dir: await dirs.make('cold-pull-dist-proxy-'),
            proxy: { remoteUrl: upstream.url },
          });
        }
        const references: Record<Contestant, string | undefined> = {
          direct: `${upstream.host}/${NAME}:${TAG}`,
          regctl: regctl === undefined ? undefined : `${regctl.host}/round-${round + 1}/${NAME}:${TAG}`,
          distribution: pullThrough === undefined ? undefined : `${pullThrough.host}/${NAME}:${TAG}`,
        };
        const pids: Record<Contestant, number | undefined> = {
          direct: undefined,
          regctl: regctl?.pid(),
          distribution: pullThrough?.pid,
        };
        const before = load();
        const line: string[] = [];
        for (const contestant of rotation(contestants, round)) {
          // CPU seconds over the pull: skopeo's, the upstream's and the proxy's in between.
          const cpu = async () => [await cpuOf(upstream.pid), await cpuOf(pids[contestant])] as const;
          const [upstreamBefore, proxyBefore] = await cpu();
          const { ms, cpu: skopeoCpu } = await pull(references[contestant]!);
          const [upstreamAfter, proxyAfter] = await cpu();
          samples[contestant].push(ms);
          const proxyCpu = proxyAfter - proxyBefore;
          const upstreamCpu = upstreamAfter - upstreamBefore;
          const parts = [`skopeo ${skopeoCpu.toFixed(2)}`, `upstream ${upstreamCpu.toFixed(2)}`];
          if (pids[contestant] !== undefined) parts.push(`proxy ${proxyCpu.toFixed(2)}`);
          const total = skopeoCpu + upstreamCpu + proxyCpu;
          line.push(`${contestant} ${ms.toFixed(0)} ms (CPU s: ${parts.join(', ')}; total ${total.toFixed(2)})`);
        }
        const after = load();
        log(`round ${round + 1}: ${line.join(', ')}; load average ${before} → ${after}`);
        notes.push(`round ${round + 1}: ${line.join(', ')}; load average (1, 5, 15 min) ${before} → ${after}`);
      } finally {
        await Promise.all([freshRegctl?.stop(), pullThrough?.stop()]);
      }
    }

    for (const contestant of contestants) log(`${contestant}: median ${formatSpread(spreadOf(samples[contestant]))}`);
    const regctlSpread = spreadOf(samples.regctl);
    const mode = freshProcess ? 'a fresh regctl process per round' : 'warm regctl, fresh cache per round';
    // Every row has regctl's median in the regctl column, against one baseline.
    const rows: BenchRow[] = [];
    const baselines: Array<[Contestant, string, string, number | undefined]> = [
      ['direct', 'pulled directly from the upstream', '≤ 1.1× direct (ratio ≥ 0.91)', 1.1],
      ['distribution', "distribution's pull-through (proxy.remoteurl)", '–', undefined],
    ];
    for (const [baseline, what, target, max] of baselines) {
      if (!contestants.includes('regctl') || !contestants.includes(baseline)) continue;
      const base = spreadOf(samples[baseline]);
      rows.push({
        metric: `cold pull of a ${imageMiB} MiB image (skopeo, ${mode}), median of ${regctlSpread.count}: regctl's proxy vs ${what}`,
        unit: 'ms',
        regctl: regctlSpread.median,
        baseline: base.median,
        ratio: base.median / regctlSpread.median,
        target,
        pass: max === undefined ? null : regctlSpread.median / base.median <= max,
      });
    }
    const direct = spreadOf(samples.direct);
    notes.unshift(
      ...contestants.map((c) => `${c}: ${formatSpread(spreadOf(samples[c]))}`),
      `medians ÷ direct: ${contestants.map((c) => `${c} ${(spreadOf(samples[c]).median / direct.median).toFixed(2)}×`).join(', ')}`,
      `per-round regctl ÷ direct, median: ${pairedRatio(samples.regctl, samples.direct).toFixed(2)}×`,
    );
    return { name: 'cold-pull', baseline: 'distribution 2.8 (filesystem), pulled directly by skopeo', rows, notes };
  } finally {
    await warmRegctl?.stop();
    await upstream.stop();
    await dirs.cleanup();
  }
}

/** regctl with one proxy repository per name, each with a blob store of its own, routed by path. */
function regctlConfig(upstreamUrl: string, repositories: readonly string[]) {
  return {
    blobStores: repositories.map((name) => ({ name, type: 'file' as const, path: `./data/${name}` })),
    repositories: repositories.map((name) => ({
      name,
      type: 'proxy' as const,
      blobStore: name,
      remote: { url: upstreamUrl, index: 'registry' as const },
      anonymous: ['pull' as const],
    })),
    listeners: [{ host: '127.0.0.1', repository: repositories[0]!, paths: [...repositories] }],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { values } = parseArgs({
      options: {
        scale: { type: 'string', default: '1' },
        rounds: { type: 'string', default: '5' },
        layers: { type: 'string', default: '4' },
        'layer-mib': { type: 'string' },
        only: { type: 'string' },
        'node-options': { type: 'string' },
        'fresh-process': { type: 'boolean', default: false },
      },
    });
    const report = await bench({
      scale: Number(values.scale),
      rounds: Number(values.rounds),
      layers: Number(values.layers),
      layerMiB: values['layer-mib'] === undefined ? undefined : Number(values['layer-mib']),
      contestants: parsePick(values.only, CONTESTANTS),
      nodeOptions: values['node-options'],
      freshProcess: values['fresh-process'],
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${formatReport(report)}\n`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
