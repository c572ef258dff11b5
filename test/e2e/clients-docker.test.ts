/**
 * The Docker engine (Debian's dockerd 20.10, started by hand in a private mount namespace whose
 * resolv.conf points at 127.0.0.1, plain HTTP via insecure-registries) against `regctl serve`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dockerd, startDockerd } from '../helpers/clients.ts';
import { startHostedClients } from '../helpers/hosted-clients.ts';
import { buildImage } from '../helpers/oci-image.ts';
import type { RegctlServer } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let dockerd: Dockerd;
const image = buildImage({ layers: 2, layerSize: 128 * 1024, seed: 'docker' });
/** The Docker schema2 manifest skopeo wrote (`--format v2s2` converts the OCI layout). */
let pushedDigest: string;

beforeAll(async () => {
  const started = await startHostedClients(dirs, { image });
  server = started.server;
  const { tools, layout } = started;
  await tools.skopeo([
    'copy',
    '--format',
    'v2s2',
    '--dest-tls-verify=false',
    `oci:${layout}:image`,
    `docker://${server.host}/dk/app:1`,
  ]);
  pushedDigest = (await tools.inspectRaw(`${server.host}/dk/app:1`)).digest;
  dockerd = await startDockerd(await dirs.make('regctl-dk-'), { insecureRegistries: [server.host] });
});

afterAll(async () => {
  await dockerd?.stop();
  await server?.stop();
  await dirs.cleanup();
});

describe('docker ↔ regctl (hosted)', () => {
  it('pulls an image: the digest docker reports is the manifest digest', async () => {
    const { stdout } = await dockerd.docker(['pull', `${server.host}/dk/app:1`]);
    expect(stdout).toContain(`Digest: ${pushedDigest}`);
    const inspected = JSON.parse((await dockerd.docker(['image', 'inspect', `${server.host}/dk/app:1`])).stdout)[0];
    expect(inspected.Id).toBe(image.config.digest);
  });

  it('pushes a retagged image and pulls it back after removing it', async () => {
    await dockerd.docker(['tag', `${server.host}/dk/app:1`, `${server.host}/dk/pushed:2`]);
    const pushed = await dockerd.docker(['push', `${server.host}/dk/pushed:2`]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();
    const head = await fetch(`${server.url}/v2/dk/pushed/manifests/2`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(digest);

    await dockerd.docker(['rmi', `${server.host}/dk/pushed:2`, `${server.host}/dk/app:1`]);
    const again = await dockerd.docker(['pull', `${server.host}/dk/pushed:2`]);
    expect(again.stdout).toContain(`Digest: ${digest}`);
  });
});
