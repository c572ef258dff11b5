/**
 * podman against `regctl serve` (hosted, anonymous): pull what skopeo pushed, push a retagged
 * image (podman re-serialises the manifest, so compare configs and layers, not manifest bytes),
 * remove it locally and pull it back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainersTools } from '../helpers/clients.ts';
import { startHostedClients } from '../helpers/hosted-clients.ts';
import { buildImage } from '../helpers/oci-image.ts';
import type { RegctlServer } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
const image = buildImage({ layers: 2, layerSize: 128 * 1024, seed: 'podman' });

beforeAll(async () => {
  let layout: string;
  ({ server, tools, layout } = await startHostedClients(dirs, { image }));
  await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, `docker://${server.host}/pod/app:1`]);
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('podman ↔ regctl (hosted)', () => {
  it('pulls an image: same manifest digest and image id (config digest)', async () => {
    await tools.podman(['pull', '--tls-verify=false', `${server.host}/pod/app:1`]);
    const { stdout } = await tools.podman(['image', 'inspect', `${server.host}/pod/app:1`]);
    const [inspected] = JSON.parse(stdout);
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(`sha256:${inspected.Id}`).toBe(image.config.digest);
  });

  it('pushes a retagged image and pulls it back after removing it locally', async () => {
    await tools.podman(['tag', `${server.host}/pod/app:1`, `${server.host}/pod/copy:2`]);
    await tools.podman(['push', '--tls-verify=false', `${server.host}/pod/copy:2`]);
    const manifest = JSON.parse((await tools.inspectRaw(`${server.host}/pod/copy:2`)).text);
    expect(manifest.config.digest).toBe(image.config.digest);
    expect(manifest.layers).toHaveLength(2);

    await tools.podman(['rmi', '--force', `${server.host}/pod/copy:2`, `${server.host}/pod/app:1`]);
    await tools.podman(['pull', '--tls-verify=false', `${server.host}/pod/copy:2`]);
    const inspected = JSON.parse((await tools.podman(['image', 'inspect', `${server.host}/pod/copy:2`])).stdout)[0];
    expect(`sha256:${inspected.Id}`).toBe(image.config.digest);
  });

  it('sees the repositories in the catalog', async () => {
    const res = await fetch(`${server.url}/v2/_catalog`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { repositories: string[] };
    expect(body.repositories).toEqual(expect.arrayContaining(['pod/app', 'pod/copy']));
  });
});
