/**
 * `regctl serve` with a group over a hosted and a proxy repository, the proxy in front of Debian's
 * distribution registry, driven by skopeo, podman and plain HTTP: pull-through caching (second
 * pull served from the cache, proved by distribution's access log), tag revalidation by HEAD only
 * after metadataMaxAge, the negative cache, pushes through the group landing in the hosted member
 * with nothing sent upstream, pushes to the proxy refused, and stale serving once the upstream is
 * stopped.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const upstreamImage = buildImage({ layers: 3, layerSize: 512 * 1024, seed: 'proxy-e2e-upstream' });
const ownImage = buildImage({ layers: 2, layerSize: 64 * 1024, seed: 'proxy-e2e-own' });
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
let upstream: Distribution;
let server: RegctlServer;
let tools: ContainersTools;
let layout: string;
/** Writes the test itself made to distribution while seeding it. */
let seedWrites = 0;

const upstreamCount = (pattern: RegExp) => upstream.countRequests(pattern);

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  await pushImage(upstream.url, 'team/app', 'v1', upstreamImage);
  seedWrites = upstream.countRequests(/^(POST|PUT|PATCH|DELETE) /);
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: ['pull', 'push', 'delete'] },
        {
          name: 'upstream',
          type: 'proxy',
          remote: { url: upstream.url, index: 'registry' },
          metadataMaxAge: '3s',
          negativeCacheTtl: '1h',
          anonymous: ['pull', 'push'],
        },
        {
          name: 'registry',
          type: 'group',
          members: ['private', 'upstream'],
          writableMember: 'private',
          anonymous: ['pull', 'push'],
        },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'registry', paths: ['upstream', 'private'] }],
    },
  });
  tools = await createContainersTools(await dirs.make());
  layout = await dirs.make();
  await writeOciLayout(layout, { own: ownImage });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

describe('proxy and group through regctl serve', () => {
  it('pulls through the group with skopeo; the second pull is served from the cache', async () => {
    const out = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/app:v1`, `oci:${out}:a`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(upstreamImage.manifest.digest);
    const blobGets = upstreamCount(/^GET \/v2\/team\/app\/blobs\//);
    const manifestGets = upstreamCount(/^(GET|HEAD) \/v2\/team\/app\/manifests\//);
    expect(blobGets).toBe(4);
    const again = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/app:v1`, `oci:${again}:a`]);
    expect(upstreamCount(/^GET \/v2\/team\/app\/blobs\//)).toBe(blobGets);
    expect(upstreamCount(/^(GET|HEAD) \/v2\/team\/app\/manifests\//)).toBe(manifestGets);
  });

  it('podman pulls the cached image through the group', async () => {
    await tools.podman(['pull', '--tls-verify=false', `${server.host}/team/app:v1`]);
    expect(upstreamCount(/^GET \/v2\/team\/app\/blobs\//)).toBe(4);
  });

  it('revalidates a tag with one HEAD after metadataMaxAge and never re-downloads an unchanged tag', async () => {
    const url = `${server.url}/v2/upstream/team/app/manifests/v1`;
    const gets = upstreamCount(/^GET \/v2\/team\/app\/manifests\/v1/);
    const heads = upstreamCount(/^HEAD \/v2\/team\/app\/manifests\/v1/);
    await new Promise((r) => setTimeout(r, 3500));
    const response = await fetch(url, { headers: { accept: MANIFEST_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-content-digest')).toBe(upstreamImage.manifest.digest);
    await fetch(url, { headers: { accept: MANIFEST_ACCEPT } });
    expect(upstreamCount(/^HEAD \/v2\/team\/app\/manifests\/v1/)).toBe(heads + 1);
    expect(upstreamCount(/^GET \/v2\/team\/app\/manifests\/v1/)).toBe(gets);
  });

  it('remembers an upstream miss', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/v2/upstream/team/app/manifests/missing`, {
        headers: { accept: MANIFEST_ACCEPT },
      });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('MANIFEST_UNKNOWN');
    }
    expect(upstreamCount(/^(GET|HEAD) \/v2\/team\/app\/manifests\/missing/)).toBe(1);
  });

  it('a push through the group lands in the hosted member and nothing reaches the upstream', async () => {
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:own`, `docker://${server.host}/team/mine:1`]);
    const hosted = await fetch(`${server.url}/v2/private/team/mine/manifests/1`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    expect(hosted.status).toBe(200);
    expect(hosted.headers.get('docker-content-digest')).toBe(ownImage.manifest.digest);
    const viaProxy = await fetch(`${server.url}/v2/upstream/team/mine/manifests/1`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    expect(viaProxy.status).toBe(404);
    expect(upstreamCount(/^(POST|PUT|PATCH|DELETE) /)).toBe(seedWrites);
  });

  it('refuses a push to the proxy repository', async () => {
    const response = await fetch(`${server.url}/v2/upstream/team/x/blobs/uploads/`, { method: 'POST' });
    expect([403, 405]).toContain(response.status);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    expect(['UNSUPPORTED', 'DENIED']).toContain(body.errors[0]!.code);
    const copy = await tools.skopeo(
      ['copy', '--dest-tls-verify=false', `oci:${layout}:own`, `docker://${server.host}/upstream/team/x:1`],
      { allowFailure: true },
    );
    expect(copy.code).not.toBe(0);
    expect(upstreamCount(/^(POST|PUT|PATCH|DELETE) /)).toBe(seedWrites);
  });

  it('serves the cache (stale) when the upstream is stopped, and 503 for what is not cached', async () => {
    await upstream.stop();
    await new Promise((r) => setTimeout(r, 3500)); // past metadataMaxAge: a revalidation is due
    const out = await dirs.make();
    await tools.skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${server.host}/upstream/team/app:v1`,
      `oci:${out}:a`,
    ]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(upstreamImage.manifest.digest);
    const missing = await fetch(`${server.url}/v2/upstream/team/other/manifests/v1`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    expect(missing.status).toBe(503);
    await server.waitForLog(/stale/);
  });
});
