/**
 * Proxy repositories whose upstream (Debian's distribution registry) is reachable only through a
 * real SOCKS5 server: both run in a private network namespace (test/helpers/netns.ts), and the one
 * door from the test's namespace leads to microsocks. skopeo pulls through regctl byte for byte.
 * The door sees every SOCKS `CONNECT`, which shows who resolved the registry's host name:
 * `socks5h://` sends the name (only the namespace's hosts file knows it), `socks5://` resolves it
 * in regctl first (so that name fails there, and an address works). A microsocks with
 * username/password takes the configured credentials and refuses wrong ones, with a message that
 * says so and no password in regctl's log.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { freePort } from '../helpers/free-port.ts';
import { createNetNs, type Door, type NetNs } from '../helpers/netns.ts';
import { buildImage, type Image } from '../helpers/oci-image.ts';
import { requireBinary, waitUntil } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
/** Known only to the namespace's processes (its hosts file): not resolvable by regctl. */
const UPSTREAM_HOST = 'registry.socks.test';
const SOCKS_USER = 'egress';
const SOCKS_PASSWORD = 'socks-secret-7f3a';
const WRONG_PASSWORD = 'wrong-socks-secret-19c2';

const images = {
  named: buildImage({ layers: 2, layerSize: 768 * 1024, seed: 'socks5h-named' }),
  address: buildImage({ layers: 1, layerSize: 512 * 1024, seed: 'socks5-address' }),
  auth: buildImage({ layers: 1, layerSize: 256 * 1024, seed: 'socks5h-auth' }),
} satisfies Record<string, Image>;

let netns: NetNs;
let upstream: Distribution;
let open: Door;
let guarded: Door;
let server: RegctlServer;
let tools: ContainersTools;

/** Starts microsocks in the namespace on a port of its loopback and opens the door to it. */
async function startMicrosocks(dir: string, auth?: { user: string; password: string }): Promise<Door> {
  const binary = requireBinary('microsocks', 'microsocks');
  const port = await freePort();
  const args = ['-i', '127.0.0.1', '-p', String(port), ...(auth ? ['-u', auth.user, '-P', auth.password] : [])];
  netns.spawn(binary, args, join(dir, `microsocks-${port}.log`));
  const door = await netns.expose(port);
  // Ready when it answers a SOCKS5 greeting (version 5, one method: none or username/password).
  await waitUntil(() => greets(door.port, auth ? 2 : 0), `microsocks on ${port} in ${netns.name}`, {
    timeoutMs: 10_000,
  });
  return door;
}

function greets(port: number, method: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from([5, 1, method])));
    socket.once('data', (reply: Buffer) => {
      socket.destroy();
      resolve(reply[0] === 5 && reply[1] === method);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** The destination of the SOCKS5 `CONNECT` in a connection's opening bytes: a name or an address. */
function connectTarget(opening: Buffer): { type: 'name' | 'ipv4' | 'ipv6'; host: string; port: number } | undefined {
  if (opening[0] !== 5) return undefined;
  let at = 2 + opening[1]!;
  // RFC 1929 username/password sub-negotiation: version 1, then the two length-prefixed fields.
  if (opening[at] === 1) {
    at += 2 + opening[at + 1]!;
    at += 1 + opening[at]!;
  }
  if (opening[at] !== 5 || opening[at + 1] !== 1) return undefined;
  const type = opening[at + 3];
  at += 4;
  if (type === 3) {
    const length = opening[at]!;
    const host = opening.subarray(at + 1, at + 1 + length).toString('latin1');
    return { type: 'name', host, port: opening.readUInt16BE(at + 1 + length) };
  }
  if (type === 1)
    return { type: 'ipv4', host: [...opening.subarray(at, at + 4)].join('.'), port: opening.readUInt16BE(at + 4) };
  if (type === 4)
    return { type: 'ipv6', host: opening.subarray(at, at + 16).toString('hex'), port: opening.readUInt16BE(at + 16) };
  return undefined;
}

beforeAll(async () => {
  const dir = await dirs.make();
  netns = await createNetNs(dir, { hosts: [`127.0.0.1 ${UPSTREAM_HOST}`] });
  upstream = await startDistribution({ dir: await dirs.make(), netns });
  const seed = `http://127.0.0.1:${upstream.door!.port}`;
  for (const [name, image] of Object.entries(images)) await pushImage(seed, `team/${name}`, 'v1', image);
  // From now on the registry is reachable only through the SOCKS5 servers.
  await upstream.door!.close();
  open = await startMicrosocks(dir);
  guarded = await startMicrosocks(dir, { user: SOCKS_USER, password: SOCKS_PASSWORD });
  const named = `http://${UPSTREAM_HOST}:${upstream.port}`;
  const auth = (env: string) => ({ username: SOCKS_USER, password: { env } });
  server = await startRegctl({
    dir: await dirs.make(),
    env: { SOCKS_PW: SOCKS_PASSWORD, WRONG_SOCKS_PW: WRONG_PASSWORD },
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      // The global proxy, inherited by every repository without its own.
      httpProxy: { url: `socks5h://127.0.0.1:${open.port}` },
      repositories: [
        { name: 'named', type: 'proxy', remote: { url: named, index: 'registry' }, anonymous: ['pull'] },
        {
          name: 'address',
          type: 'proxy',
          remote: { url: upstream.url, index: 'registry' },
          httpProxy: { url: `socks5://127.0.0.1:${open.port}` },
          anonymous: ['pull'],
        },
        {
          name: 'local-dns',
          type: 'proxy',
          remote: { url: named, index: 'registry' },
          httpProxy: { url: `socks5://127.0.0.1:${open.port}` },
          anonymous: ['pull'],
        },
        {
          name: 'auth',
          type: 'proxy',
          remote: { url: named, index: 'registry' },
          httpProxy: { url: `socks5h://127.0.0.1:${guarded.port}`, auth: auth('SOCKS_PW') },
          anonymous: ['pull'],
        },
        {
          name: 'wrong-auth',
          type: 'proxy',
          remote: { url: named, index: 'registry' },
          httpProxy: { url: `socks5h://127.0.0.1:${guarded.port}`, auth: auth('WRONG_SOCKS_PW') },
          anonymous: ['pull'],
        },
      ],
      listeners: [{ host: '127.0.0.1', paths: ['named', 'address', 'local-dns', 'auth', 'wrong-auth'] }],
    },
  });
  tools = await createContainersTools(await dirs.make());
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await netns?.close();
  await dirs.cleanup();
});

/** skopeo copies REPO/team/NAME:v1 out of regctl and checks every blob byte for byte. */
async function pullByteForByte(repo: string, name: keyof typeof images): Promise<void> {
  const image = images[name];
  const out = await dirs.make();
  await tools.skopeo([
    'copy',
    '--src-tls-verify=false',
    `docker://${server.host}/${repo}/team/${name}:v1`,
    `oci:${out}:v1`,
  ]);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  expect(index.manifests.map((m) => m.digest)).toEqual([image.manifest.digest]);
  for (const blob of [image.config, ...image.layers]) {
    const bytes = await readFile(join(out, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)));
    expect(bytes.equals(blob.bytes), `${blob.digest} is byte-identical`).toBe(true);
  }
}

/** The OCI error regctl answers for a manifest GET through `repo`. */
async function failedPull(repo: string, name: string): Promise<{ status: number; message: string }> {
  const response = await fetch(`${server.url}/v2/${repo}/team/${name}/manifests/v1`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const body = (await response.json()) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]?.code).toBe('UNAVAILABLE');
  return { status: response.status, message: body.errors[0]!.message };
}

describe('a proxy repository whose upstream only a SOCKS5 proxy reaches', () => {
  it('cannot reach the upstream directly: it is in another network namespace', async () => {
    await expect(fetch(`${upstream.url}/v2/`)).rejects.toThrow();
  });

  it('socks5h:// pulls byte for byte, the proxy resolving a name regctl cannot', async () => {
    const before = { connections: open.openings.length, received: open.bytes.received };
    await pullByteForByte('named', 'named');
    const targets = open.openings.slice(before.connections).map(connectTarget);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) expect(target).toEqual({ type: 'name', host: UPSTREAM_HOST, port: upstream.port });
    const layerBytes = images.named.layers.reduce((sum, layer) => sum + layer.bytes.length, 0);
    expect(open.bytes.received - before.received).toBeGreaterThan(layerBytes);
    expect(upstream.countRequests(/^GET \/v2\/team\/named\/blobs\/sha256:[0-9a-f]{64} HTTP\/1\.1 200$/)).toBe(
      images.named.layers.length + 1,
    );
  });

  it('socks5:// resolves in regctl and gives the proxy the address', async () => {
    const before = open.openings.length;
    await pullByteForByte('address', 'address');
    const targets = open.openings.slice(before).map(connectTarget);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) expect(target).toEqual({ type: 'ipv4', host: '127.0.0.1', port: upstream.port });
  });

  it('socks5:// with a name only the proxy could resolve: 503, the host name was not found here', async () => {
    const before = open.openings.length;
    const { status, message } = await failedPull('local-dns', 'named');
    expect(status).toBe(503);
    expect(message).toContain(`the upstream http://${UPSTREAM_HOST}:${upstream.port} is unreachable`);
    expect(message).toContain(`host name ${UPSTREAM_HOST} not found here (socks5:// resolves names in regctl`);
    expect(open.openings.length).toBe(before);
  });

  it('username/password: the configured credentials pass; wrong ones get 503 saying the proxy refused them', async () => {
    await pullByteForByte('auth', 'auth');
    const { status, message } = await failedPull('wrong-auth', 'auth');
    expect(status).toBe(503);
    expect(message).toContain(`the SOCKS5 proxy socks5h://127.0.0.1:${guarded.port} refused our proxy credentials`);
    for (const secret of [SOCKS_PASSWORD, WRONG_PASSWORD]) {
      expect(message).not.toContain(secret);
      expect(server.log()).not.toContain(secret);
    }
  });
});
