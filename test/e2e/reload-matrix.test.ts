/**
 * The reload matrix: one `regctl serve` per blob-store kind (file, then S3 on a real Ceph RGW), with
 * a hosted, a proxy (in front of Debian's distribution registry, with htpasswd auth) and a group
 * repository, reloaded through every kind of change a team makes in git:
 * an unrelated repository added and removed; the hosted, the proxy and the group's own settings;
 * the blob store's definition; a listener added, changed and removed; users and token settings;
 * the proxy's `httpProxy` set and unset; its upstream credentials (wrong, then another user).
 *
 * After each reload, with skopeo: a push through the group lands in the hosted member, an
 * uncached image pulls through the proxy (exactly one upstream fetch per blob), a cached one is
 * served without the upstream, and the change itself is in effect. All the while a background
 * client pushes and pulls (hosted blobs, a cached proxy blob, a hosted manifest through the
 * group); none of its requests may fail.
 */
import { randomBytes } from 'node:crypto';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CephS3, s3StoreConfig, startCeph } from '../helpers/ceph.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { type Distribution, startDistribution } from '../helpers/distribution.ts';
import { type ForwardProxy, startForwardProxy } from '../helpers/forward-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, type Image, sha256, writeOciLayout } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { reloadWith } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const UPSTREAM_USERS = { alice: 'pw-alice', bob: 'pw-bob' };
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Everything a step of the matrix may change. */
interface Settings {
  extras: string[];
  redeploy: 'allowRedeploy' | 'disableRedeploy';
  proxyMaxAge: string;
  proxyFirst: boolean;
  /** The blob store's definition: same data, another definition (new instance at the reload). */
  storeVariant: 0 | 1;
  /** Second listener: absent, with the group as its default, or with the proxy. */
  second: 'none' | 'group' | 'proxy';
  bot: boolean;
  tokenTtl: string;
  httpProxy: boolean;
  upstreamUser: 'alice' | 'bob';
  upstreamPassword: 'UP_PASS_ALICE' | 'UP_PASS_BOB' | 'UP_PASS_WRONG';
}

const initial: Settings = {
  extras: [],
  redeploy: 'allowRedeploy',
  proxyMaxAge: '1h',
  proxyFirst: false,
  storeVariant: 0,
  second: 'none',
  bot: false,
  tokenTtl: '5m',
  httpProxy: false,
  upstreamUser: 'alice',
  upstreamPassword: 'UP_PASS_ALICE',
};

let upstream: Distribution;
let forward: ForwardProxy;
let tools: ContainersTools;
let layout: string;
let ceph: CephS3 | undefined;
/** Images only the upstream has, one per uncached pull. */
const uncached: Image[] = Array.from({ length: 40 }, (_, i) =>
  buildImage({ layers: 1, layerSize: 48 * 1024, seed: `matrix-upstream-${i}` }),
);
const movingA = buildImage({ layers: 1, layerSize: 4096, seed: 'matrix-moving-a' });
const movingB = buildImage({ layers: 1, layerSize: 4096, seed: 'matrix-moving-b' });
const dupUpstream = buildImage({ layers: 1, layerSize: 4096, seed: 'matrix-dup-upstream' });
const dupHosted = buildImage({ layers: 1, layerSize: 4096, seed: 'matrix-dup-hosted' });
const steady = buildImage({ layers: 1, layerSize: 64 * 1024, seed: 'matrix-steady' });
const own: Image[] = Array.from({ length: 40 }, (_, i) =>
  buildImage({ layers: 1, layerSize: 32 * 1024, seed: `matrix-own-${i}` }),
);

beforeAll(async () => {
  upstream = await startDistribution({ dir: await dirs.make(), htpasswd: UPSTREAM_USERS });
  const auth = basic('alice', UPSTREAM_USERS.alice);
  for (const [n, image] of uncached.entries()) await pushImage(upstream.url, `team/u${n}`, 'v1', image, auth);
  await pushImage(upstream.url, 'dup/app', 'v1', dupUpstream, auth);
  await pushImage(upstream.url, 'team/steady', 'v1', steady, auth);
  forward = await startForwardProxy();
  tools = await createContainersTools(await dirs.make());
  layout = await dirs.make();
  await writeOciLayout(layout, Object.fromEntries(own.map((image, i) => [`own${i}`, image])));
}, 180_000);

afterAll(async () => {
  await forward?.stop();
  await upstream?.stop();
  await ceph?.stop();
  await dirs.cleanup();
});

type StoreKind = 'file' | 's3';

/** Waits (at most 5 s) until nothing listens at `url` any more: a removed listener closes after the swap. */
async function untilRefused(url: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const answered = await fetch(url).then(
      () => true,
      () => false,
    );
    if (!answered) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} still answers 5 s after its listener was removed`);
}

function storeConfig(kind: StoreKind, variant: 0 | 1, prefix: string): TestConfig['blobStores'] {
  if (kind === 'file') return [{ name: 'default', type: 'file', path: variant === 0 ? './data' : './data-link' }];
  return [s3StoreConfig(prefix, { partSize: variant === 0 ? '5MiB' : '6MiB' })];
}

function configOf(kind: StoreKind, prefix: string, ports: [number, number], s: Settings): TestConfig {
  const members = s.proxyFirst ? ['hub', 'private'] : ['private', 'hub'];
  return {
    blobStores: storeConfig(kind, s.storeVariant, prefix),
    repositories: [
      { name: 'private', type: 'hosted', deploymentPolicy: s.redeploy, anonymous: ['pull', 'push', 'delete'] },
      { name: 'secure', type: 'hosted', anonymous: [] },
      {
        name: 'hub',
        type: 'proxy',
        remote: {
          url: upstream.url,
          index: 'registry',
          auth: { username: s.upstreamUser, password: { env: s.upstreamPassword } },
          timeout: '10s',
        },
        metadataMaxAge: s.proxyMaxAge,
        ...(s.httpProxy ? { httpProxy: { url: forward.url } } : {}),
        anonymous: ['pull'],
      },
      { name: 'all', type: 'group', members, writableMember: 'private', anonymous: ['pull', 'push'] },
      ...s.extras.map((name) => ({ name, type: 'hosted' as const, anonymous: ['pull' as const, 'push' as const] })),
    ],
    listeners: [
      { host: '127.0.0.1', port: ports[0], repository: 'all', paths: ['hub', 'private', 'secure', ...s.extras] },
      ...(s.second === 'none'
        ? []
        : [{ host: '127.0.0.1', port: ports[1], repository: s.second === 'group' ? 'all' : 'hub' }]),
    ],
    security: {
      users: [
        { name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['dev'] },
        ...(s.bot ? [{ name: 'bot', password: { env: 'BOT_PASSWORD' }, roles: ['dev'] }] : []),
      ],
      roles: { dev: [{ repositories: ['*'], actions: ['pull', 'push'] }] },
      token: { enabled: true, ttl: s.tokenTtl },
    },
  };
}

/** The background client: hosted push + pull, a cached proxy blob, a hosted manifest via the group. */
function startLoad(url: string) {
  const failures: string[] = [];
  let requests = 0;
  let stop = false;
  const steadyLayer = steady.layers[0]!;
  const run = (async () => {
    for (let i = 0; i < 20_000 && !stop; i += 1) {
      const data = randomBytes(512);
      const digest = sha256(data);
      const checks: Array<[string, () => Promise<boolean>]> = [
        [
          'push',
          async () => {
            const r = await fetch(`${url}/v2/private/load/blobs/uploads/?digest=${digest}`, {
              method: 'POST',
              headers: { 'content-type': 'application/octet-stream' },
              body: data,
            });
            await r.arrayBuffer();
            return r.status === 201;
          },
        ],
        [
          'pull',
          async () => {
            const r = await fetch(`${url}/v2/private/load/blobs/${digest}`);
            return r.status === 200 && sha256(Buffer.from(await r.arrayBuffer())) === digest;
          },
        ],
        [
          'proxy blob',
          async () => {
            const r = await fetch(`${url}/v2/hub/team/steady/blobs/${steadyLayer.digest}`);
            return r.status === 200 && sha256(Buffer.from(await r.arrayBuffer())) === steadyLayer.digest;
          },
        ],
        [
          'group manifest',
          async () => {
            const r = await fetch(`${url}/v2/team/base/manifests/v1`, { headers: { accept: ACCEPT } });
            await r.arrayBuffer();
            return r.status === 200 && r.headers.get('docker-content-digest') === own[0]!.manifest.digest;
          },
        ],
      ];
      for (const [what, check] of checks) {
        requests += 1;
        const ok = await check().catch(() => false);
        if (!ok) failures.push(`${what} #${i}`);
      }
    }
  })();
  return {
    failures,
    get requests() {
      return requests;
    },
    async stop() {
      stop = true;
      await run;
    },
  };
}

describe.each<StoreKind>(['file', 's3'])('reload matrix on the %s blob store', (kind) => {
  let server: RegctlServer;
  let ports: [number, number];
  let settings: Settings;
  let url: string;
  let next = kind === 'file' ? 0 : 20; // the next uncached upstream image (each run its own range)
  let pushed = 1; // the next own image to push (own[0] is the steady hosted one)
  let cachedImage = -1; // an uncached image pulled once, so cached from then on
  const prefix = `matrix-${randomBytes(4).toString('hex')}`;
  const moving = `team/moving-${kind}`; // a tag this run moves upstream

  const blobGets = (n: number) =>
    upstream.countRequests(new RegExp(`^GET /v2/team/u${n}/blobs/\\S+ HTTP/[\\d.]+ 200$`));

  async function skopeoPull(reference: string, expected: string): Promise<void> {
    const out = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${reference}`, `oci:${out}:a`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(expected);
  }

  /** Push, cached pull and uncached pull, as every step checks them. */
  async function coreChecks(options: { uncachedWorks?: boolean } = {}): Promise<void> {
    // push through the group → the hosted member
    const n = pushed++;
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:own${n}`,
      `docker://${server.host}/team/own${n}:v1`,
    ]);
    const hosted = await fetch(`${url}/v2/private/team/own${n}/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(hosted.status).toBe(200);
    expect(hosted.headers.get('docker-content-digest')).toBe(own[n]!.manifest.digest);
    // cached pull: no upstream fetch
    if (cachedImage >= 0) {
      const before = blobGets(cachedImage);
      await skopeoPull(`${server.host}/hub/team/u${cachedImage}:v1`, uncached[cachedImage]!.manifest.digest);
      expect(blobGets(cachedImage)).toBe(before);
    }
    if (options.uncachedWorks === false) return;
    // uncached pull through the group: one upstream fetch per blob
    const u = next++;
    await skopeoPull(`${server.host}/team/u${u}:v1`, uncached[u]!.manifest.digest);
    expect(blobGets(u)).toBe(2);
    cachedImage = u;
  }

  async function change(patch: Partial<Settings>): Promise<void> {
    settings = { ...settings, ...patch };
    const status = await reloadWith(url, server.configFile, configOf(kind, prefix, ports, settings));
    expect(status.lastReload.ok).toBe(true);
  }

  beforeAll(async () => {
    const dir = await dirs.make();
    let env: NodeJS.ProcessEnv = {};
    if (kind === 's3') {
      ceph ??= await startCeph();
      env = { ...ceph.env };
    } else {
      await symlink(join(dir, 'data'), join(dir, 'data-link'));
    }
    ports = [await freePort(), await freePort()];
    settings = { ...initial };
    server = await startRegctl({
      dir,
      config: configOf(kind, prefix, ports, settings),
      env: {
        ...env,
        LOG_LEVEL: 'info',
        CI_PASSWORD: 'ci-secret',
        BOT_PASSWORD: 'bot-secret',
        UP_PASS_ALICE: UPSTREAM_USERS.alice,
        UP_PASS_BOB: UPSTREAM_USERS.bob,
        UP_PASS_WRONG: 'not-the-password',
      },
    });
    url = server.url;
    // The steady content the background client reads: a hosted image and a cached proxy blob.
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:own0`,
      `docker://${server.host}/private/team/base:v1`,
    ]);
    await skopeoPull(`${server.host}/hub/team/steady:v1`, steady.manifest.digest);
    await pushImage(upstream.url, moving, 't', movingA, basic('alice', UPSTREAM_USERS.alice));
    await skopeoPull(`${server.host}/hub/${moving}:t`, movingA.manifest.digest);
    await pushImage(url, 'private/dup/app', 'v1', dupHosted);
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('every kind of change applies, and push, cached and uncached pulls keep working under load', async () => {
    const load = startLoad(url);
    try {
      await coreChecks();

      // an unrelated repository added, then removed
      await change({ extras: ['extra'] });
      await pushImage(url, 'extra/img', 'v1', own[39]!);
      expect((await fetch(`${url}/v2/extra/img/manifests/v1`, { headers: { accept: ACCEPT } })).status).toBe(200);
      await coreChecks();
      await change({ extras: [] });
      // `extra/…` now routes to the group's default member, where no such image exists.
      expect((await fetch(`${url}/v2/extra/img/manifests/v1`, { headers: { accept: ACCEPT } })).status).toBe(404);
      await coreChecks();

      // the hosted repository's own settings: tags become immutable
      await pushImage(url, 'private/team/fixed', 'v1', own[37]!);
      await pushImage(url, 'private/team/fixed', 'v2', own[38]!);
      await change({ redeploy: 'disableRedeploy' });
      const moved = await fetch(`${url}/v2/private/team/fixed/manifests/v1`, {
        method: 'PUT',
        headers: { 'content-type': own[38]!.mediaType },
        body: own[38]!.manifest.bytes,
      });
      expect(moved.status).toBeGreaterThanOrEqual(400);
      expect(((await moved.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
      await coreChecks();

      // the proxy's own settings: a tag is trusted for 1 s only, so a moved tag is seen
      await pushImage(upstream.url, moving, 't', movingB, basic('alice', UPSTREAM_USERS.alice));
      await change({ proxyMaxAge: '1s' });
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await skopeoPull(`${server.host}/hub/${moving}:t`, movingB.manifest.digest);
      await coreChecks();
      await change({ proxyMaxAge: '1h' });

      // the group's own settings: the proxy first, so a name both members hold comes from upstream
      const dup = async () =>
        (await fetch(`${url}/v2/dup/app/manifests/v1`, { headers: { accept: ACCEPT } })).headers.get(
          'docker-content-digest',
        );
      expect(await dup()).toBe(dupHosted.manifest.digest);
      await change({ proxyFirst: true });
      expect(await dup()).toBe(dupUpstream.manifest.digest);
      await coreChecks();
      await change({ proxyFirst: false });

      // the blob store's definition: a new store instance over the same data; the old one closes
      await change({ storeVariant: 1 });
      await coreChecks();

      // a listener added, changed (another default repository), removed
      const second = `http://127.0.0.1:${ports[1]}`;
      await change({ second: 'group' });
      await skopeoPull(`127.0.0.1:${ports[1]}/team/base:v1`, own[0]!.manifest.digest);
      await coreChecks();
      await change({ second: 'proxy' });
      const viaProxy = await fetch(`${second}/v2/team/base/manifests/v1`, { headers: { accept: ACCEPT } });
      expect(viaProxy.status).toBe(404); // the hosted image is not upstream: the proxy answers now
      await skopeoPull(`127.0.0.1:${ports[1]}/team/steady:v1`, steady.manifest.digest);
      await coreChecks();
      await change({ second: 'none' });
      await untilRefused(`${second}/v2/`);
      await coreChecks();

      // security: a new user, a longer token lifetime
      const asBot = { authorization: basic('bot', 'bot-secret') };
      expect((await fetch(`${url}/v2/secure/x/tags/list`, { headers: asBot })).status).toBe(401);
      await change({ bot: true, tokenTtl: '10m' });
      const botList = await fetch(`${url}/v2/secure/x/tags/list`, { headers: asBot });
      expect(botList.status).toBe(404);
      const token = await fetch(`${url}/-/token?service=regctl&scope=repository:secure/x:pull`, {
        headers: { authorization: basic('ci', 'ci-secret') },
      });
      expect(token.status).toBe(200);
      expect(((await token.json()) as { expires_in: number }).expires_in).toBe(600);
      await coreChecks();

      // httpProxy set: uncached pulls go through the forward proxy; unset: they no longer do
      const through = () => forward.requests.filter((line) => line.includes(`127.0.0.1:${upstream.port}`)).length;
      const beforeProxy = through();
      await change({ httpProxy: true });
      await coreChecks();
      expect(through()).toBeGreaterThan(beforeProxy);
      await change({ httpProxy: false });
      const afterProxy = through();
      await coreChecks();
      expect(through()).toBe(afterProxy);

      // upstream credentials: wrong ones are refused (cached content still serves), another user's work
      await change({ upstreamPassword: 'UP_PASS_WRONG' });
      await coreChecks({ uncachedWorks: false });
      const refused = await fetch(`${url}/v2/hub/team/u${next}/manifests/v1`, { headers: { accept: ACCEPT } });
      expect(refused.status).toBeGreaterThanOrEqual(400);
      await change({ upstreamUser: 'bob', upstreamPassword: 'UP_PASS_BOB' });
      await coreChecks();
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    expect(load.requests).toBeGreaterThan(100);
    expect(server.log()).not.toMatch(/UND_ERR_DESTROYED|client is destroyed/i);
  }, 300_000);
});
