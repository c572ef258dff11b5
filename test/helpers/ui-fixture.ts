/**
 * A registry with something to browse, for the web UI's browser tests and its screenshot script:
 * `regctl serve` with three hosted repositories of different visibility, a group over two of them
 * and a proxy of a real CNCF distribution registry; images pushed with real skopeo (a two-platform
 * index, a single image, a private image), a signature-like referrer pushed over the v2 API, and
 * one pull through the proxy so it has a cache and an upstream health to show.
 *
 * Who sees what: `apps` anonymous pull; `team` pull for `dev`; `secret` nobody but `admin`
 * (pull on `*`, so the operator pages too); the group `all` = apps → team.
 */
import { join } from 'node:path';
import { type ContainersTools, createContainersTools } from './clients.ts';
import { type Distribution, startDistribution } from './distribution.ts';
import { buildImage, buildIndex, sha256, writeOciLayout } from './oci-image.ts';
import { type RegctlServer, startRegctl, type TestConfig } from './regctl-server.ts';
import { absolute, finishUpload, startUpload } from './registry-http.ts';
import type { TmpDirs } from './tmp.ts';

export const UI_USERS = {
  admin: { name: 'admin', password: 'admin-ui-password' },
  dev: { name: 'dev', password: 'dev-ui-password' },
} as const;

/** What the fixture pushed, for assertions. */
export interface UiFixture {
  readonly server: RegctlServer;
  /** The folder of the config and the store. */
  readonly dir: string;
  readonly upstream: Distribution;
  readonly tools: ContainersTools;
  /** Digests: the index `apps/web:1.0`, its platforms, the single image `apps/web:latest`, its layers. */
  readonly digests: {
    readonly index: string;
    readonly amd64: string;
    readonly arm64: string;
    readonly arm64Layers: readonly string[];
    readonly latest: string;
    readonly signature: string;
  };
}

/** The fixture's config. */
export function uiConfig(storePath: string, upstreamUrl: string): TestConfig {
  const anonymous = ['pull'];
  return {
    blobStores: [{ name: 'default', type: 'file', path: storePath }],
    repositories: [
      { name: 'apps', type: 'hosted', anonymous },
      { name: 'team', type: 'hosted' },
      { name: 'secret', type: 'hosted' },
      { name: 'all', type: 'group', members: ['apps', 'team'], anonymous },
      { name: 'hub', type: 'proxy', remote: { url: upstreamUrl }, anonymous },
    ],
    listeners: [
      {
        host: '127.0.0.1',
        paths: { apps: 'apps', team: 'team', secret: 'secret', all: 'all', hub: 'hub' },
      },
    ],
    security: {
      users: [
        { name: UI_USERS.admin.name, password: { env: 'UI_ADMIN_PASSWORD' }, roles: ['admin'] },
        { name: UI_USERS.dev.name, password: { env: 'UI_DEV_PASSWORD' }, roles: ['dev'] },
      ],
      roles: {
        admin: [{ repositories: ['*'], actions: ['pull', 'push', 'delete'] }],
        dev: [{ repositories: ['team'], actions: ['pull', 'push'] }],
      },
    },
  } as TestConfig;
}

function basic(user: { name: string; password: string }): string {
  return `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
}

/** Pushes an artifact manifest (an empty config, one small blob) whose subject is `subject`. */
async function pushReferrer(base: string, name: string, subject: { digest: string; size: number; mediaType: string }) {
  const auth = { authorization: basic(UI_USERS.admin) };
  const put = async (bytes: Buffer) => {
    const upload = await startUpload(base, name, auth);
    const done = await finishUpload(upload, sha256(bytes), bytes, auth);
    if (done.status !== 201) throw new Error(`blob upload: ${done.status} ${done.body}`);
  };
  const config = Buffer.from('{}');
  const payload = Buffer.from('signature of the image (test payload)');
  await put(config);
  await put(payload);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256(payload), size: payload.length }],
      subject,
      annotations: {
        'org.opencontainers.image.created': '2026-01-01T00:00:00Z',
        // Data a client pushed is text on every page, never markup.
        'org.example.note': '<script>alert("pushed")</script><img src=x onerror=alert(1)>',
      },
    }),
  );
  const digest = sha256(manifest);
  const res = await fetch(`${base}/v2/${name}/manifests/${digest}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`referrer push: ${res.status}`);
  absolute(base, res.headers.get('location'));
  return digest;
}

/** Starts the registry and the upstream, and pushes the fixture's images. */
export async function startUiFixture(dirs: TmpDirs): Promise<UiFixture> {
  const [upstream, tools, dir, layout] = await Promise.all([
    dirs.make('regctl-ui-upstream-').then((d) => startDistribution({ dir: d })),
    dirs.make('regctl-ui-tools-').then(createContainersTools),
    dirs.make('regctl-ui-'),
    dirs.make('regctl-ui-layout-'),
  ]);
  const server = await startRegctl({
    dir,
    config: uiConfig(join(dir, 'data'), upstream.url),
    env: { UI_ADMIN_PASSWORD: UI_USERS.admin.password, UI_DEV_PASSWORD: UI_USERS.dev.password },
  });
  const index = buildIndex({ seed: 'ui-web', layers: 2, layerSize: 48 * 1024 });
  const latest = buildImage({ seed: 'ui-web-latest', layers: 3, layerSize: 32 * 1024 });
  const api = buildImage({ seed: 'ui-api', layers: 1, layerSize: 16 * 1024 });
  const vault = buildImage({ seed: 'ui-vault', layers: 1, layerSize: 16 * 1024 });
  const base = buildImage({ seed: 'ui-base', layers: 1, layerSize: 8 * 1024 });
  await writeOciLayout(layout, { web: index, latest, api, vault, base });
  const admin = `${UI_USERS.admin.name}:${UI_USERS.admin.password}`;
  const copy = (ref: string, target: string, all = false, to = server.host) =>
    tools.skopeo([
      'copy',
      ...(all ? ['--all'] : []),
      '--dest-tls-verify=false',
      ...(to === server.host ? ['--dest-creds', admin] : []),
      `oci:${layout}:${ref}`,
      `docker://${to}/${target}`,
    ]);
  await copy('web', 'apps/web:1.0', true);
  await copy('api', 'team/api:v1');
  await copy('vault', 'secret/vault:1');
  await copy('base', 'library/base:3', false, upstream.host);
  await copy('latest', 'apps/web:latest');
  const signature = await pushReferrer(server.url, 'apps/web', index.images[1]!.descriptor);
  // One pull through the proxy: a cached image, a hit ratio and a healthy upstream to show.
  await tools.skopeo(['inspect', '--tls-verify=false', `docker://${server.host}/hub/library/base:3`]);
  return {
    server,
    dir,
    upstream,
    tools,
    digests: {
      index: index.manifest.digest,
      amd64: index.images[0]!.manifest.digest,
      arm64: index.images[1]!.manifest.digest,
      arm64Layers: index.images[1]!.layers.map((layer) => layer.digest),
      latest: latest.manifest.digest,
      signature,
    },
  };
}
