/**
 * `node bin/run-ts.mjs bench/leader-abandon.ts [--size-mib 64] [--rounds 5]`
 *
 * How long a follower waits for an uncached proxy blob when the client that started the upstream
 * fetch misbehaves, against the upstream transfer itself. A `regctl serve` proxies a small upstream
 * on loopback that sends the blob at a fixed pace (64 KiB every 5 ms, ≈ 12.5 MiB/s), so the
 * transfer time is known. Per round, for a fresh blob:
 *   - baseline: one client alone (the transfer time);
 *   - paused leader: the leader reads 64 KiB and stops with its connection open; a follower asks
 *     200 ms later;
 *   - gone leader: the leader disconnects 200 ms in; a follower asks then.
 * Prints each round's figures and the medians. Every loop is bounded; everything is on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import { parseArgs } from 'node:util';
import { startCountingUpstream } from '../test/helpers/counting-upstream.ts';
import { seededBytes } from '../test/helpers/oci-image.ts';
import { startRegctl } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { median } from './lib/rounds.ts';

const { values } = parseArgs({
  options: { 'size-mib': { type: 'string', default: '64' }, rounds: { type: 'string', default: '5' } },
});
const sizeMiB = Number(values['size-mib']);
const rounds = Number(values.rounds);
if (!(sizeMiB > 0 && sizeMiB <= 1024) || !(Number.isInteger(rounds) && rounds > 0 && rounds <= 50)) {
  console.error('usage: leader-abandon.ts [--size-mib 1..1024] [--rounds 1..50]');
  process.exit(2);
}

const dirs = new TmpDirs();
const upstream = await startCountingUpstream();
upstream.faults.chunkDelayMs = 5;
const server = await startRegctl({
  dir: await dirs.make(),
  config: {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      {
        name: 'hub',
        type: 'proxy',
        remote: { url: upstream.url, index: 'registry', timeout: '60s' },
        anonymous: ['pull'],
      },
    ],
    listeners: [{ host: '127.0.0.1', repository: 'hub' }],
  },
});

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** GETs `path` to the end; the milliseconds it took, after checking the digest. */
async function fullGet(path: string, digest: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || digestOf(body) !== digest) throw new Error(`GET ${path}: ${res.status}, wrong body`);
  return performance.now() - started;
}

function startLeader(path: string): { response: Promise<IncomingMessage>; destroy(): void } {
  const req = request(`${server.url}${path}`);
  req.on('error', () => {});
  const response = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
  req.end();
  return { response, destroy: () => req.destroy() };
}

const results = { baseline: [] as number[], paused: [] as number[], gone: [] as number[] };
try {
  for (let round = 0; round < rounds; round += 1) {
    const blobs = ['baseline', 'paused', 'gone'].map((kind) => {
      const bytes = seededBytes(`leader-${kind}-${round}`, sizeMiB * 1024 * 1024);
      const { layers } = upstream.addImage(`bench/${kind}${round}`, 'v1', [bytes]);
      return { path: `/v2/bench/${kind}${round}/blobs/${layers[0]}`, digest: digestOf(bytes) };
    });
    const [baseline, paused, gone] = blobs as [(typeof blobs)[0], (typeof blobs)[0], (typeof blobs)[0]];
    results.baseline.push(await fullGet(baseline.path, baseline.digest));

    const pausedLeader = startLeader(paused.path);
    const pausedResponse = await pausedLeader.response;
    await new Promise<void>((resolve) => pausedResponse.once('readable', () => resolve()));
    pausedResponse.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    results.paused.push(await fullGet(paused.path, paused.digest));
    pausedLeader.destroy();

    const goneLeader = startLeader(gone.path);
    await new Promise((resolve) => setTimeout(resolve, 200));
    goneLeader.destroy();
    results.gone.push(await fullGet(gone.path, gone.digest));
    const ms = (value: number | undefined) => `${Math.round(value ?? 0)} ms`;
    console.log(
      `round ${round + 1}: alone ${ms(results.baseline.at(-1))}, follower of a paused leader ${ms(results.paused.at(-1))}, follower after the leader left ${ms(results.gone.at(-1))}`,
    );
  }
  console.log(
    `median over ${rounds} rounds of a ${sizeMiB} MiB blob: alone ${Math.round(median(results.baseline))} ms, ` +
      `follower of a paused leader ${Math.round(median(results.paused))} ms (+200 ms head start), ` +
      `follower after the leader left ${Math.round(median(results.gone))} ms (+200 ms head start)`,
  );
} finally {
  await server.stop();
  await upstream.stop();
  await dirs.cleanup();
}
