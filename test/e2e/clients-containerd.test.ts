/**
 * containerd's `ctr` against `regctl serve` (hosted, anonymous, plain HTTP): pull what skopeo
 * pushed (same digest, unpacked), then tag and push it under a new name (POST + monolithic PUT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Containerd, type ContainersTools, startContainerd } from '../helpers/clients.ts';
import { startHostedClients } from '../helpers/hosted-clients.ts';
import { buildImage } from '../helpers/oci-image.ts';
import type { RegctlServer } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
let containerd: Containerd;
const image = buildImage({ layers: 3, layerSize: 128 * 1024, seed: 'containerd' });

beforeAll(async () => {
  let layout: string;
  ({ server, tools, layout } = await startHostedClients(dirs, { image }));
  await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, `docker://${server.host}/ctr/app:1`]);
  containerd = await startContainerd(await dirs.make('regctl-ctrd-'));
});

afterAll(async () => {
  await containerd?.stop();
  await server?.stop();
  await dirs.cleanup();
});

describe('containerd (ctr) ↔ regctl (hosted)', () => {
  it('pulls with --plain-http: same manifest digest, layers unpacked', async () => {
    const pulled = await containerd.ctr(['image', 'pull', '--plain-http', `${server.host}/ctr/app:1`]);
    expect(pulled.stdout).toContain('unpacking linux/amd64');
    const { stdout } = await containerd.ctr(['image', 'ls']);
    const line = stdout.split('\n').find((l) => l.startsWith(`${server.host}/ctr/app:1`));
    expect(line).toContain(image.manifest.digest);
  });

  it('pushes a retagged image: the registry serves the same manifest bytes', async () => {
    await containerd.ctr(['image', 'tag', `${server.host}/ctr/app:1`, `${server.host}/ctr/pushed:2`]);
    await containerd.ctr(['image', 'push', '--plain-http', `${server.host}/ctr/pushed:2`]);
    expect((await tools.inspectRaw(`${server.host}/ctr/pushed:2`)).digest).toBe(image.manifest.digest);
    for (const layer of image.layers) {
      const res = await fetch(`${server.url}/v2/ctr/pushed/blobs/${layer.digest}`, { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(Number(res.headers.get('content-length'))).toBe(layer.bytes.length);
    }
  });
});
