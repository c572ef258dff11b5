/**
 * Online garbage collection against a running `regctl serve` (file store), with skopeo:
 * - two images sharing a layer; one deleted by digest; `regctl gc --dry-run` changes nothing and
 *   lists what `regctl gc` then deletes; disk usage drops by exactly the deleted image's unique
 *   bytes; the shared layer stays and the other image copies out byte-identical;
 * - pushes racing passes: the server collects every second (gc.interval) while a client keeps
 *   deleting and re-pushing images whose blobs are garbage; every re-pushed image pulls whole;
 * - a cleanup rule removes exactly the tags its dry run listed; a hosted quota refuses a push
 *   with DENIED; `regctl usage` and `/-/status` report the figures.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../schema/index.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import {
  blobFiles,
  imageOf,
  layersOf,
  pullsIdentical as pullsIdenticalFrom,
  rewriteConfig,
  runRegctl,
} from '../helpers/gc-images.ts';
import { type Image, writeOciLayout } from '../helpers/oci-image.ts';
import { configSource, REPO_ROOT, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
let layout: string;
let storeRoot: string;

const shared = layersOf('gc-shared', 1)[0]!;
const imageA = imageOf('gc-a', [shared, ...layersOf('gc-a', 2)]);
const imageB = imageOf('gc-b', [shared, ...layersOf('gc-b', 1)]);
const racers = Array.from({ length: 6 }, (_, i) => imageOf(`gc-race-${i}`, layersOf(`gc-race-${i}`, 2, 64 * 1024)));
const nightlies = Array.from({ length: 4 }, (_, i) =>
  imageOf(`gc-nightly-${i}`, layersOf(`gc-nightly-${i}`, 1, 16 * 1024)),
);
const big = imageOf('gc-big', layersOf('gc-big', 1, 600 * 1024));
const victim = imageOf('gc-victim', layersOf('gc-victim', 2, 64 * 1024));

const config = (interval?: string): TestConfig => ({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    {
      name: 'private',
      type: 'hosted',
      anonymous: ['pull', 'push', 'delete'],
      cleanup: [{ tags: '^nightly-', keep: 2 }],
    },
    { name: 'small', type: 'hosted', anonymous: ['pull', 'push', 'delete'], quota: '400KiB' },
  ],
  listeners: [{ host: '127.0.0.1', paths: ['private', 'small'] }],
  gc: { gracePeriod: '1s', ...(interval === undefined ? {} : { interval }) },
});

beforeAll(async () => {
  const dir = await dirs.make();
  storeRoot = join(dir, 'data');
  server = await startRegctl({ dir, config: config() });
  tools = await createContainersTools(await dirs.make());
  layout = await dirs.make();
  const entries: Record<string, Image> = { a: imageA, b: imageB, big, victim };
  racers.forEach((image, i) => {
    entries[`race-${i}`] = image;
  });
  nightlies.forEach((image, i) => {
    entries[`nightly-${i}`] = image;
  });
  await writeOciLayout(layout, entries);
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

const push = (ref: string, target: string) =>
  tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:${ref}`, `docker://${server.host}/${target}`]);

/** Copies an image out with skopeo and checks every blob of it against `image`. */
const pullsIdentical = async (target: string, image: Image) =>
  pullsIdenticalFrom(tools, await dirs.make(), server.host, target, image);

const gc = (...args: string[]) => runRegctl(['gc', '--config', server.configFile, '--json', ...args]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('regctl gc with skopeo (file store, online)', () => {
  it('reclaims exactly the unique bytes of a deleted image; the shared layer and the other image stay', async () => {
    await push('a', 'private/app:a');
    await push('b', 'private/app:b');
    await tools.skopeo(['delete', '--tls-verify=false', `docker://${server.host}/private/app:a`]);
    await sleep(1_100); // past the grace period
    const before = await blobFiles(storeRoot);

    const dry = await gc('--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(await blobFiles(storeRoot)).toEqual(before);
    const [dryReport] = JSON.parse(dry.stdout) as {
      deleted: { blobs: { digest: string }[] };
      reclaimedBytes: number;
    }[];

    const real = await gc();
    expect(real.code, real.stderr).toBe(0);
    const [report] = JSON.parse(real.stdout) as {
      deleted: { blobs: { digest: string; size: number }[]; manifests: { digest: string }[] };
      reclaimedBytes: number;
    }[];
    const unique = [imageA.manifest, imageA.config, ...imageA.layers.slice(1)];
    const uniqueBytes = unique.reduce((sum, blob) => sum + blob.bytes.length, 0);
    expect(report!.deleted.blobs.map((b) => b.digest).sort()).toEqual(unique.map((b) => b.digest).sort());
    expect(dryReport!.deleted.blobs.map((b) => b.digest).sort()).toEqual(unique.map((b) => b.digest).sort());
    expect(report!.reclaimedBytes).toBe(uniqueBytes);
    expect(dryReport!.reclaimedBytes).toBe(uniqueBytes);
    expect(report!.deleted.manifests).toEqual([]); // the client's delete unlinked it; its bytes are a blob

    const after = await blobFiles(storeRoot);
    expect(before.bytes - after.bytes).toBe(uniqueBytes);
    expect(after.digests.has(shared.digest)).toBe(true);
    await pullsIdentical('private/app:b', imageB);

    const human = await runRegctl(['gc', '--config', server.configFile]);
    expect(human.stdout).toMatch(/^blob store default: scanned \d+ blobs .* in [\d.]+ s$/m);
    expect(human.stdout).toContain('deleted 0 blobs: 0 B reclaimed');
  });

  it('a cleanup rule removes exactly the tags its dry run listed', async () => {
    for (let i = 0; i < nightlies.length; i++) {
      await push(`nightly-${i}`, `private/app:nightly-${i}`);
      await sleep(20); // distinct push times
    }
    await sleep(1_100);
    const dry = JSON.parse((await gc('--dry-run')).stdout)[0] as {
      deleted: { tags: { tag: string; reason: string }[] };
    };
    expect(dry.deleted.tags.map((t) => t.tag)).toEqual(['nightly-0', 'nightly-1']);
    expect(dry.deleted.tags[0]!.reason).toBe('cleanup[0]: not among the 2 newest tags matching ^nightly-');
    const real = JSON.parse((await gc()).stdout)[0] as { deleted: { tags: { tag: string }[] } };
    expect(real.deleted.tags).toEqual(dry.deleted.tags);
    const { stdout } = await tools.skopeo(['list-tags', '--tls-verify=false', `docker://${server.host}/private/app`]);
    expect((JSON.parse(stdout) as { Tags: string[] }).Tags.sort()).toEqual(['b', 'nightly-2', 'nightly-3']);
    await pullsIdentical('private/app:nightly-3', nightlies[3]!);
  });

  it('a push over a hosted quota is refused with DENIED naming the repository, quota and usage', async () => {
    const refused = await tools.skopeo(
      ['copy', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${server.host}/small/app:big`],
      { allowFailure: true },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied: repository small is over its quota: 400\.0 KiB allowed/);
    await push('b', 'small/app:b'); // fits
    await pullsIdentical('small/app:b', imageB);
  });

  it('regctl usage reports each store and repository, biggest first', async () => {
    const { code, stdout } = await runRegctl(['usage', '--config', server.configFile, '--json']);
    expect(code).toBe(0);
    const [usage] = JSON.parse(stdout) as {
      store: string;
      bytes: number;
      repositories: { repository: string; bytes: number; blobs: number }[];
    }[];
    expect(usage!.store).toBe('default');
    expect(usage!.bytes).toBe((await blobFiles(storeRoot)).bytes);
    expect(usage!.repositories.map((r) => r.repository)).toEqual(['private', 'small']);
    const small = usage!.repositories[1]!;
    expect(small.blobs).toBe(2 + imageB.layers.length);
    expect(small.bytes).toBe(
      [imageB.manifest, imageB.config, ...imageB.layers].reduce((s, b) => s + b.bytes.length, 0),
    );
  });
});

describe('pushes racing scheduled passes (gc.interval 1s)', () => {
  it('every image re-pushed while passes run pulls whole', async () => {
    await server.stop();
    await rewriteConfig(server, config('1s'));
    await server.restart();
    let passes = 0;
    let restoredOrKept = 0;
    for (let round = 0; round < 3; round++) {
      // make every racer garbage, then let it age past the grace period
      for (let i = 0; i < racers.length; i++) {
        await push(`race-${i}`, `private/race:${i}`);
        await tools.skopeo(['delete', '--tls-verify=false', `docker://${server.host}/private/race:${i}`]);
      }
      await sleep(1_200);
      // re-push them all while the server collects every second
      await Promise.all(racers.map((_, i) => push(`race-${i}`, `private/race:${i}`)));
      for (let i = 0; i < racers.length; i++) await pullsIdentical(`private/race:${i}`, racers[i]!);
      const status = (await (await fetch(`${server.url}/-/status`)).json()) as {
        storage: { gc: { blobsDeleted: number; at: string }[] };
      };
      passes += status.storage.gc.length;
      restoredOrKept += racers.length;
    }
    expect(passes).toBeGreaterThan(0);
    expect(restoredOrKept).toBe(18);
    const log = await readFile(server.logFile, 'utf8');
    const done = log.split('\n').filter((line) => line.includes('garbage collection done'));
    expect(done.length).toBeGreaterThanOrEqual(3);
    // and after the racing, a pass with nothing racing keeps every image whole
    await sleep(1_500);
    for (let i = 0; i < racers.length; i++) await pullsIdentical(`private/race:${i}`, racers[i]!);
  });
});

describe('a pass killed midway (SIGKILL during its settle wait)', () => {
  it('loses nothing: the garbage stays in quarantine, a re-push of it succeeds, the next pass waits for the lease', async () => {
    // no scheduled passes: only the pass this test starts and kills touches the store
    await server.stop();
    await rewriteConfig(server, config());
    await server.restart();
    await push('b', 'private/kept:b');
    await push('victim', 'private/victim:1');
    await tools.skopeo(['delete', '--tls-verify=false', `docker://${server.host}/private/victim:1`]);
    await sleep(1_200);
    // the same store, with a long settle: the pass holds what it took out of sight for 20 s
    const slowConfig = join(server.configFile, '..', 'slow-gc.config.ts');
    const listeners = config().listeners.map((listener) => ({ ...listener, port: server.port }));
    await writeFile(
      slowConfig,
      configSource({ ...config(), listeners, gc: { gracePeriod: '1s', settle: '20s' } } as ConfigInput),
    );
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'regctl.mjs'), 'gc', '--config', slowConfig], {
      stdio: 'ignore',
    });
    const quarantine = join(storeRoot, 'gc', 'quarantine');
    const inQuarantine = (digest: string) =>
      existsSync(join(quarantine, 'sha256', digest.slice(7, 9), digest.slice(7)));
    let quarantined = 0;
    for (let attempt = 0; attempt < 150 && quarantined < victim.layers.length; attempt++) {
      await sleep(100);
      quarantined = victim.layers.filter((blob) => inQuarantine(blob.digest)).length;
    }
    expect(quarantined).toBe(victim.layers.length);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    // nothing was purged: the victim's blobs are in quarantine, and a re-push brings them back
    for (const blob of victim.layers)
      expect(existsSync(join(quarantine, 'sha256', blob.digest.slice(7, 9), blob.digest.slice(7)))).toBe(true);
    await push('victim', 'private/victim:1');
    await pullsIdentical('private/victim:1', victim);
    await pullsIdentical('private/kept:b', imageB);
    // the killed pass's lease runs out on its own (60 s); until then another pass is skipped
    const nextRun = await gc();
    const next = JSON.parse(nextRun.stdout)[0] as { skipped?: { heldBy: { holder: string } } };
    expect(next.skipped?.heldBy.holder).toMatch(/:\d+:[0-9a-f]{8}$/);
  });
});
