/**
 * containerd as a Docker Hub mirror client (`ctr image pull --hosts-dir`): it sends `?ns=docker.io`
 * on every request, no `/v2/` ping and no auth. The listener's `mirrors` route `docker.io` to a
 * proxy repository with `index: 'docker-hub'` whose upstream is a distribution registry on
 * loopback holding `library/alpine:3`. The hosts.toml `server` is a dead loopback port, so a miss
 * can never fall back to the real Docker Hub.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Containerd, startContainerd } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { deadPort } from '../helpers/free-port.ts';
import { buildImage } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const image = buildImage({ layers: 2, layerSize: 128 * 1024, seed: 'mirror-containerd' });
let upstream: Distribution;
let server: RegctlServer;
let containerd: Containerd;

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  await pushImage(upstream.url, 'library/alpine', '3', image);
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'hub', type: 'proxy', remote: { url: upstream.url, index: 'docker-hub' }, anonymous: ['pull'] },
        { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'private', mirrors: { 'docker.io': 'hub' } }],
    },
  });
  containerd = await startContainerd(await dirs.make());
  await writeFile(
    join(containerd.hostsDir, 'docker.io', 'hosts.toml'),
    [
      `server = "http://127.0.0.1:${await deadPort()}"`,
      '',
      `[host."http://${server.host}"]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await containerd?.stop();
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

describe('containerd mirror mode', () => {
  it('pulls docker.io/library/alpine:3 through the mirror route into the proxy cache', async () => {
    await containerd.ctr(['image', 'pull', '--hosts-dir', containerd.hostsDir, 'docker.io/library/alpine:3'], {
      timeoutMs: 60_000,
    });
    const { stdout } = await containerd.ctr(['image', 'ls', '-q']);
    expect(stdout).toContain('docker.io/library/alpine:3');
    expect(upstream.countRequests(/^GET \/v2\/library\/alpine\/blobs\//)).toBe(3);
    // a second pull after removing the image is served from the cache
    await containerd.ctr(['image', 'rm', 'docker.io/library/alpine:3']);
    await containerd.ctr(['content', 'prune', 'references'], { allowFailure: true });
    await containerd.ctr(['image', 'pull', '--hosts-dir', containerd.hostsDir, 'docker.io/library/alpine:3'], {
      timeoutMs: 60_000,
    });
    expect(upstream.countRequests(/^GET \/v2\/library\/alpine\/blobs\//)).toBe(3);
  });

  it('maps a single-segment Docker Hub name to library/', async () => {
    const response = await fetch(`${server.url}/v2/alpine/manifests/3?ns=docker.io`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  });
});
