/**
 * Declared prefetch against a real upstream (Debian's CNCF `docker-registry`): a proxy whose
 * `prefetch.images.file` lists a 2-platform index, an image and one image the upstream lacks has
 * both cached right after start with no client pull (they serve, identical, once the upstream is
 * stopped), and `/-/status` shows the miss with its reason (logged at warn). An unrelated reload
 * does not run it again; editing the list file (watched with the config) restarts it at once,
 * and the run follows a tag moved upstream;
 * SIGTERM during the schedule stops the server cleanly; `regctl status` shows the miss.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { buildImage, buildIndex, MEDIA_TYPES, sha256 } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { runRegctl } from '../helpers/regctl-cli.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { reloadWith, replaceFile } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let upstream: Distribution;
let server: RegctlServer;
let tools: ContainersTools;
let config: TestConfig;
let list: string;
const index = buildIndex({ layers: 2, seed: 'prefetch-multi', architectures: ['amd64', 'arm64'] });
const tool = buildImage({ layers: 2, seed: 'prefetch-tool' });
/** What `tools/one:1` becomes upstream later: the prefetch follows the tag. */
const moved = buildImage({ layers: 2, seed: 'prefetch-tool-2' });

interface PrefetchRun {
  startedAt: string;
  ok: number;
  images: number;
  misses: { image: string; reason: string }[];
  blobsFetched: number;
}
interface RepositoryStatus {
  name: string;
  prefetch?: {
    images: number;
    intervalMs: number;
    running: boolean;
    nextRunAt: string | null;
    lastRun: PrefetchRun | null;
  };
}

async function prefetchStatus() {
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as { repositories: RepositoryStatus[] };
  return status.repositories.find((r) => r.name === 'hub')?.prefetch;
}

/** Waits for a finished run that started after `after` (ISO time), and returns it. */
async function nextRun(after = ''): Promise<PrefetchRun> {
  let run: PrefetchRun | null | undefined;
  await waitUntil(
    async () => {
      const status = await prefetchStatus();
      run = status?.running === false ? status.lastRun : undefined;
      return run !== undefined && run !== null && run.startedAt > after;
    },
    'a prefetch run',
    { timeoutMs: 30_000, describe: () => server.log().slice(-3000) },
  );
  return run as PrefetchRun;
}

const runsLogged = () =>
  server
    .log()
    .split('\n')
    .filter((l) => l.includes('"msg":"prefetch run done"')).length;

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make('regctl-prefetch-upstream-') });
  for (const image of index.images) await pushImage(upstream.url, 'multi/app', image.manifest.digest, image);
  const put = await fetch(`${upstream.url}/v2/multi/app/manifests/1`, {
    method: 'PUT',
    headers: { 'content-type': MEDIA_TYPES.ociIndex },
    body: index.manifest.bytes,
  });
  expect(put.status).toBe(201);
  await pushImage(upstream.url, 'tools/one', '1', tool);
  const dir = await dirs.make('regctl-prefetch-');
  list = join(dir, 'images.txt');
  await writeFile(list, '# kept warm\nmulti/app:1\ntools/one:1\ntools/missing:1\n');
  config = {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      {
        name: 'hub',
        type: 'proxy',
        remote: { url: upstream.url, timeout: '5s' },
        anonymous: ['pull'],
        prefetch: { images: { file: 'images.txt' }, interval: '1h' },
      },
    ],
    listeners: [{ host: '127.0.0.1', repository: 'hub' }],
  };
  server = await startRegctl({ dir, config, args: ['--watch'] });
  config = { ...config, listeners: [{ host: '127.0.0.1', port: server.port, repository: 'hub' }] };
  tools = await createContainersTools(await dirs.make());
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

describe('declared prefetch', () => {
  let first: PrefetchRun;

  it('pulls the listed images at start with no client, and reports the one the upstream lacks', async () => {
    first = await nextRun();
    expect(first).toMatchObject({ images: 3, ok: 2 });
    expect(first.misses).toEqual([{ image: 'tools/missing:1', reason: expect.stringContaining('MANIFEST_UNKNOWN') }]);
    // Both platforms' and the tool's config and layers: 3 images × 3 blobs.
    expect(first.blobsFetched).toBe(9);
    const status = await prefetchStatus();
    expect(status).toMatchObject({ images: 3, intervalMs: 3_600_000, running: false });
    expect(Date.parse(status!.nextRunAt!) - Date.parse(first.startedAt)).toBe(3_600_000);
    const warned = server
      .log()
      .split('\n')
      .filter((l) => l.includes('"msg":"prefetch miss"'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0]!)).toMatchObject({ level: 40, repository: 'hub', image: 'tools/missing:1' });
    // No client asked: every manifest and blob request upstream came from the prefetch.
    expect(upstream.countRequests(/GET \/v2\/multi\/app\/blobs\//)).toBe(6);
    const report = await runRegctl(['status', '--registry', server.url]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/^ {4}prefetch: 2\/3 images cached at \S+, 1 MISSED; next at \S+$/m);
    expect(report.stdout).toMatch(/^ {6}tools\/missing:1: MANIFEST_UNKNOWN/m);
  });

  it('is left alone by an unrelated reload and restarted at once when its list file changes', async () => {
    const unrelated = await reloadWith(server.url, server.configFile, {
      ...config,
      repositories: [...(config.repositories ?? []), { name: 'local', type: 'hosted' }],
    });
    expect(unrelated.lastReload.ok).toBe(true);
    expect((await prefetchStatus())?.lastRun?.startedAt).toBe(first.startedAt);
    await pushImage(upstream.url, 'tools/one', '1', moved);
    await replaceFile(list, 'multi/app:1\ntools/one:1\n');
    const second = await nextRun(first.startedAt);
    // The moved tag is revalidated (whatever metadataMaxAge says) and its new content fetched.
    expect(second).toMatchObject({ images: 2, ok: 2, misses: [], blobsFetched: 3 });
    // Two runs in all: the unrelated reload did not start one.
    expect(runsLogged()).toBe(2);
  });

  it('serves the prefetched images once the upstream is gone', async () => {
    await upstream.stop();
    const [app, one] = await Promise.all([
      tools.inspectRaw(`${server.host}/multi/app:1`),
      tools.inspectRaw(`${server.host}/tools/one:1`),
    ]);
    expect(app.digest).toBe(index.manifest.digest);
    expect(one.digest).toBe(moved.manifest.digest);
    const out = await dirs.make();
    await tools.skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${server.host}/multi/app:1`,
      `oci:${out}:app`,
    ]);
    const copied = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(copied.manifests[0].digest).toBe(index.manifest.digest);
    for (const blob of index.images.flatMap((i) => i.layers))
      expect(sha256(await readFile(join(out, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
  });

  it('stops with the server on SIGTERM', async () => {
    expect(await server.stop()).toBe(0);
  });
});
