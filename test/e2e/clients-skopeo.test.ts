/**
 * skopeo against `regctl serve` (hosted repository, anonymous): copies in and back out keep every
 * digest, multi-arch indexes travel with `--all`, Docker schema2 conversion, tag listing, delete.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainersTools } from '../helpers/clients.ts';
import { startHostedClients } from '../helpers/hosted-clients.ts';
import { buildImage, buildIndex, MEDIA_TYPES, sha256 } from '../helpers/oci-image.ts';
import type { RegctlServer } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
let layout: string;
const image = buildImage({ layers: 3, layerSize: 256 * 1024, seed: 'skopeo' });
const index = buildIndex({ layers: 2, seed: 'skopeo-multi', architectures: ['amd64', 'arm64', 'ppc64le'] });

beforeAll(async () => {
  ({ server, tools, layout } = await startHostedClients(dirs, { image, index }));
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

/** The raw manifest as the registry serves it and its sha256. */
const rawManifest = (ref: string) => tools.inspectRaw(`${server.host}/${ref}`);

describe('skopeo ↔ regctl (hosted)', () => {
  it('copies a multi-layer image in and back out with identical digests', async () => {
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:image`,
      `docker://${server.host}/team/app:1.0`,
    ]);
    const pushed = await rawManifest('team/app:1.0');
    expect(pushed.digest).toBe(image.manifest.digest);
    expect(pushed.text).toBe(image.manifest.bytes.toString());

    const out = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${server.host}/team/app:1.0`, `oci:${out}:back`]);
    const outIndex = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(outIndex.manifests[0].digest).toBe(image.manifest.digest);
    for (const blob of [image.config, ...image.layers]) {
      const bytes = await readFile(join(out, 'blobs', 'sha256', blob.digest.slice(7)));
      expect(sha256(bytes)).toBe(blob.digest);
    }
  });

  it('copies a multi-arch index with --all: index and every platform manifest keep their digests', async () => {
    await tools.skopeo([
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${layout}:index`,
      `docker://${server.host}/team/multi:1`,
    ]);
    const pushed = await rawManifest('team/multi:1');
    expect(pushed.digest).toBe(index.manifest.digest);
    expect(JSON.parse(pushed.text).mediaType).toBe(MEDIA_TYPES.ociIndex);
    for (const child of index.images) {
      expect((await rawManifest(`team/multi@${child.manifest.digest}`)).digest).toBe(child.manifest.digest);
    }
    const out = await dirs.make();
    await tools.skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${server.host}/team/multi:1`,
      `oci:${out}:back`,
    ]);
    const outIndex = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(outIndex.manifests[0].digest).toBe(index.manifest.digest);
  });

  it('pushes Docker schema2 with --format v2s2 and serves it with its media type', async () => {
    await tools.skopeo([
      'copy',
      '--format',
      'v2s2',
      '--dest-tls-verify=false',
      `oci:${layout}:image`,
      `docker://${server.host}/team/docker:v2s2`,
    ]);
    const pushed = await rawManifest('team/docker:v2s2');
    const manifest = JSON.parse(pushed.text);
    expect(manifest.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(manifest.config.mediaType).toBe(MEDIA_TYPES.dockerConfig);
    const head = await fetch(`${server.url}/v2/team/docker/manifests/v2s2`, {
      method: 'HEAD',
      headers: { accept: MEDIA_TYPES.dockerManifest },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(MEDIA_TYPES.dockerManifest);
    expect(head.headers.get('docker-content-digest')).toBe(pushed.digest);
    // Layers are the same blobs whatever the manifest format.
    expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual(image.layers.map((l) => l.digest));
    const { stdout } = await tools.skopeo([
      'inspect',
      '--tls-verify=false',
      `docker://${server.host}/team/docker:v2s2`,
    ]);
    expect(JSON.parse(stdout).Architecture).toBe('amd64');
  });

  it('lists tags', async () => {
    for (const tag of ['2.0', 'latest']) {
      await tools.skopeo([
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:image`,
        `docker://${server.host}/team/app:${tag}`,
      ]);
    }
    const { stdout } = await tools.skopeo(['list-tags', '--tls-verify=false', `docker://${server.host}/team/app`]);
    const listed = JSON.parse(stdout);
    expect(listed.Repository).toBe(`${server.host}/team/app`);
    expect([...listed.Tags].sort()).toEqual(['1.0', '2.0', 'latest']);
  });

  it('deletes an image: its manifest is gone afterwards', async () => {
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:image`,
      `docker://${server.host}/team/gone:1`,
    ]);
    await tools.skopeo(['delete', '--tls-verify=false', `docker://${server.host}/team/gone:1`]);
    const result = await tools.skopeo(
      ['inspect', '--raw', '--tls-verify=false', `docker://${server.host}/team/gone:1`],
      {
        allowFailure: true,
      },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/manifest unknown|not found|MANIFEST_UNKNOWN/i);
    const res = await fetch(`${server.url}/v2/team/gone/manifests/${image.manifest.digest}`, { method: 'HEAD' });
    expect(res.status).toBe(404);
  });
});
