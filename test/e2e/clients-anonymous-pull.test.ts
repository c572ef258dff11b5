/**
 * The most common registry policy: anyone may pull, users push. A hosted repository with
 * `anonymous: ['pull']` and a user `ci` with push, served twice: with the token service (Bearer
 * challenges) and with Basic only. Real clients must push with credentials (skopeo, podman, docker
 * learn from the `/v2/` ping how to authenticate: a ping answered 200 would leave them
 * unauthenticated, and the push refused) and pull without any (skopeo, podman, docker, ctr).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Containerd,
  type ContainersTools,
  createContainersTools,
  type Dockerd,
  startContainerd,
  startDockerd,
} from '../helpers/clients.ts';
import { TEST_USER } from '../helpers/hosted-configs.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const image = buildImage({ layers: 2, seed: 'anonymous-pull' });
const creds = `${TEST_USER.name}:${TEST_USER.password}`;
const modes = ['bearer', 'basic'] as const;
type Mode = (typeof modes)[number];

const servers = new Map<Mode, RegctlServer>();
let tools: ContainersTools;
let layout: string;
let dockerd: Dockerd;
let containerd: Containerd;

function config(mode: Mode): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [{ name: 'shared', type: 'hosted', anonymous: ['pull'] }],
    listeners: [{ host: '127.0.0.1', repository: 'shared' }],
    security: {
      users: [{ name: TEST_USER.name, password: { env: 'CI_PASSWORD' }, roles: ['publisher'] }],
      roles: { publisher: [{ repositories: ['shared'], actions: ['pull', 'push'] }] },
      token: { enabled: mode === 'bearer', ttl: '5m' },
    },
  };
}

beforeAll(async () => {
  for (const mode of modes) {
    servers.set(
      mode,
      await startRegctl({ dir: await dirs.make(), config: config(mode), env: { CI_PASSWORD: TEST_USER.password } }),
    );
  }
  tools = await createContainersTools(await dirs.make());
  layout = await dirs.make();
  await writeOciLayout(layout, { image });
  const hosts = [...servers.values()].map((server) => server.host);
  dockerd = await startDockerd(await dirs.make('regctl-dk-'), { insecureRegistries: hosts });
  containerd = await startContainerd(await dirs.make('regctl-ctrd-'));
}, 120_000);

afterAll(async () => {
  await dockerd?.stop();
  await containerd?.stop();
  for (const server of servers.values()) await server.stop();
  await dirs.cleanup();
});

describe.each(modes)('anonymous pull, authenticated push (%s challenges)', (mode) => {
  const server = () => servers.get(mode)!;

  it('tells the anonymous ping how to authenticate: a Bearer 401, or 200 with the Basic challenge', async () => {
    const ping = await fetch(`${server().url}/v2/`);
    expect(ping.status).toBe(mode === 'bearer' ? 401 : 200);
    expect(ping.headers.get('www-authenticate')).toMatch(mode === 'bearer' ? /^Bearer realm=/ : /^Basic realm=/);
  });

  it('skopeo pushes with --dest-creds and is refused without; skopeo and podman pull with no credentials', async () => {
    const target = `docker://${server().host}/shared/app:1`;
    const refused = await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, target], {
      allowFailure: true,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/unauthorized|authentication required/i);
    await tools.skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:image`, target]);

    const anonymous = await tools.inspectRaw(`${server().host}/shared/app:1`);
    expect(JSON.parse(anonymous.text).config.digest).toBe(image.config.digest);
    await tools.podman(['pull', '--tls-verify=false', `${server().host}/shared/app:1`]);
  });

  it('podman pushes after login; docker pulls anonymously (with Bearer, pushes after login); ctr pulls anonymously', async () => {
    const host = server().host;
    await tools.podman(['tag', `${host}/shared/app:1`, `${host}/shared/podman:1`]);
    const unauthenticated = await tools.podman(['push', '--tls-verify=false', `${host}/shared/podman:1`], {
      allowFailure: true,
    });
    expect(unauthenticated.code).not.toBe(0);
    await tools.podman(['login', '--tls-verify=false', '-u', TEST_USER.name, '--password-stdin', host], {
      input: `${TEST_USER.password}\n`,
    });
    await tools.podman(['push', '--tls-verify=false', `${host}/shared/podman:1`]);
    await tools.podman(['logout', host]);

    const pulled = await dockerd.docker(['pull', `${host}/shared/podman:1`]);
    expect(pulled.stdout).toMatch(/Digest: sha256:[0-9a-f]{64}/);
    // docker authenticates only after a 401 ping: with Basic auth (ping 200) it cannot push here,
    // which `regctl validate` warns about (basic-push-with-anonymous-pull).
    if (mode === 'bearer') {
      await dockerd.docker(['tag', `${host}/shared/podman:1`, `${host}/shared/docker:1`]);
      const refused = await dockerd.docker(['push', `${host}/shared/docker:1`], { allowFailure: true });
      expect(refused.code).not.toBe(0);
      await dockerd.docker(['login', '-u', TEST_USER.name, '--password-stdin', host], {
        input: `${TEST_USER.password}\n`,
      });
      const pushed = await dockerd.docker(['push', `${host}/shared/docker:1`]);
      expect(pushed.stdout).toMatch(/digest: sha256:[0-9a-f]{64}/);
      await dockerd.docker(['logout', host]);
    }

    await containerd.ctr(['image', 'pull', '--plain-http', `${host}/shared/podman:1`]);
    const { stdout } = await containerd.ctr(['image', 'ls', '-q']);
    expect(stdout.split('\n')).toContain(`${host}/shared/podman:1`);
  });
});
