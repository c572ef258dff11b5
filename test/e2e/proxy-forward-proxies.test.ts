/**
 * `regctl serve` proxy repositories whose plain-HTTP upstream (Debian's distribution registry on a
 * loopback high port) is reached through a real outbound forward proxy with its usual rules:
 * tinyproxy (with Basic proxy auth) and Squid, both refusing CONNECT to anything but the TLS ports.
 * skopeo pulls through each; the pull must arrive byte for byte, and the proxy's own log must show
 * every upstream request as an absolute-form `GET http://…` and no tunnel. A client that tunnels
 * plain HTTP (regctl before `proxyTunnel: false`) gets 403 from the proxy and the pull fails.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type ProxyDaemon, startSquid, startTinyproxy } from '../helpers/forward-proxy-daemons.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const PROXY_USER = 'egress';
const PROXY_PASSWORD = 'tinyproxy-secret-4e1b';

interface Case {
  readonly name: 'tinyproxy' | 'squid';
  /** Its own image (own digests), so neither pull can be served by blobs the other cached. */
  readonly image: Image;
  readonly start: (dir: string) => Promise<ProxyDaemon>;
  /** The `auth` of the repository's `httpProxy`. */
  readonly auth?: { username: string; password: { env: string } };
}

const cases: readonly Case[] = [
  {
    name: 'tinyproxy',
    image: buildImage({ layers: 2, layerSize: 512 * 1024, seed: 'forward-proxies-tinyproxy' }),
    start: (dir) => startTinyproxy(dir, { basicAuth: { username: PROXY_USER, password: PROXY_PASSWORD } }),
    auth: { username: PROXY_USER, password: { env: 'EGRESS_PROXY_PASSWORD' } },
  },
  {
    name: 'squid',
    image: buildImage({ layers: 2, layerSize: 512 * 1024, seed: 'forward-proxies-squid' }),
    start: (dir) => startSquid(dir),
  },
];

let upstream: Distribution;
let server: RegctlServer;
let tools: ContainersTools;
const daemons = new Map<Case['name'], ProxyDaemon>();

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make() });
  for (const c of cases) {
    await pushImage(upstream.url, `team/${c.name}`, 'v1', c.image);
    daemons.set(c.name, await c.start(await dirs.make()));
  }
  server = await startRegctl({
    dir: await dirs.make(),
    env: { EGRESS_PROXY_PASSWORD: PROXY_PASSWORD },
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: cases.map((c) => ({
        name: `via-${c.name}`,
        type: 'proxy' as const,
        remote: { url: upstream.url, index: 'registry' as const },
        httpProxy: { url: daemons.get(c.name)!.url, ...(c.auth ? { auth: c.auth } : {}) },
        anonymous: ['pull' as const],
      })),
      listeners: [{ host: '127.0.0.1', paths: cases.map((c) => `via-${c.name}`) }],
    },
  });
  tools = await createContainersTools(await dirs.make());
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([upstream?.stop(), ...[...daemons.values()].map((d) => d.stop())]);
  await dirs.cleanup();
});

/** The status a proxy answers to `CONNECT target` (with the test's proxy credentials). */
async function connectStatus(proxy: ProxyDaemon, target: string): Promise<number> {
  const authorization = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers: { host: target, 'proxy-authorization': authorization },
    });
    req.once('connect', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}

/** Upstream requests for `team/NAME` in the proxy's log lines. */
function upstreamLines(lines: readonly string[], name: string): string[] {
  return lines.filter((line) => line.includes(`127.0.0.1:${upstream.port}/v2/team/${name}/`));
}

describe.each(cases)('a plain-HTTP upstream through $name', (c) => {
  it('is behind a proxy that refuses a CONNECT tunnel to its port', async () => {
    const proxy = daemons.get(c.name)!;
    const before = proxy.requests().length;
    expect(await connectStatus(proxy, `127.0.0.1:${upstream.port}`)).toBe(403);
    // The log shows refused tunnels too, so the pull's "no CONNECT" below is a real check.
    await waitUntil(async () => proxy.requests().length > before, `${c.name} logging the CONNECT`, { timeoutMs: 5000 });
    expect(proxy.requests().slice(before)).toEqual([`CONNECT 127.0.0.1:${upstream.port}`]);
  });

  it('pulls with skopeo byte for byte, every upstream request sent in absolute form through the proxy', async () => {
    const proxy = daemons.get(c.name)!;
    const before = proxy.requests().length;
    const out = await dirs.make();
    await tools.skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${server.host}/via-${c.name}/team/${c.name}:v1`,
      `oci:${out}:v1`,
    ]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([c.image.manifest.digest]);
    for (const blob of [c.image.manifest, c.image.config, ...c.image.layers]) {
      const bytes = await readFile(join(out, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)));
      expect(bytes.equals(blob.bytes), `${blob.digest} is byte-identical`).toBe(true);
    }

    const base = `http://127.0.0.1:${upstream.port}/v2/team/${c.name}`;
    const reached = () => upstream.countRequests(new RegExp(`^(GET|HEAD) /v2/team/${c.name}/`));
    // Squid logs a request when it is done: wait until its log has caught up with the upstream's.
    await waitUntil(
      async () => upstreamLines(proxy.requests().slice(before), c.name).length >= reached(),
      `${c.name}'s log showing every upstream request`,
      { timeoutMs: 5000 },
    );
    const lines = proxy.requests().slice(before);
    expect(lines.filter((line) => line.startsWith('CONNECT '))).toEqual([]);
    expect(lines.some((line) => new RegExp(`^(GET|HEAD) ${base}/manifests/v1$`).test(line))).toBe(true);
    for (const blob of [c.image.config, ...c.image.layers]) expect(lines).toContain(`GET ${base}/blobs/${blob.digest}`);
    expect(reached()).toBeGreaterThan(0);
    expect(upstreamLines(lines, c.name)).toHaveLength(reached());
    expect(server.log()).not.toContain(PROXY_PASSWORD);
  });
});
