/**
 * Authentication with real clients: a hosted repository with forced authentication and one user
 * (`ci`, password from the environment). skopeo `--creds`, `podman login`, `docker login`; wrong
 * or missing credentials are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, type Dockerd, startDockerd } from '../helpers/clients.ts';
import { startHostedClients } from '../helpers/hosted-clients.ts';
import { securedHostedConfig, TEST_USER } from '../helpers/hosted-configs.ts';
import { buildImage } from '../helpers/oci-image.ts';
import type { RegctlServer } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
let layout: string;
const image = buildImage({ layers: 2, seed: 'auth' });
const creds = `${TEST_USER.name}:${TEST_USER.password}`;
/** Digest of the Docker schema2 manifest skopeo pushed (set by the skopeo test, used by docker's). */
let pushedDigest = '';

beforeAll(async () => {
  ({ server, tools, layout } = await startHostedClients(
    dirs,
    { image },
    { config: securedHostedConfig(), env: { CI_PASSWORD: TEST_USER.password } },
  ));
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('authentication with real clients', () => {
  it('challenges anonymous requests on /v2/', async () => {
    const res = await fetch(`${server.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^(Basic|Bearer) /);
  });

  it('skopeo: refused without or with wrong credentials, copies with --creds', async () => {
    const target = `docker://${server.host}/auth/app:1`;
    const anonymous = await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, target], {
      allowFailure: true,
    });
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/unauthorized|authentication required|denied/i);
    const wrong = await tools.skopeo(
      ['copy', '--dest-tls-verify=false', '--dest-creds', `${TEST_USER.name}:wrong`, `oci:${layout}:image`, target],
      { allowFailure: true },
    );
    expect(wrong.code).not.toBe(0);

    await tools.skopeo([
      'copy',
      '--format',
      'v2s2',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      `oci:${layout}:image`,
      target,
    ]);
    const pushed = await tools.inspectRaw(`${server.host}/auth/app:1`, { creds });
    expect(JSON.parse(pushed.text).config.digest).toBe(image.config.digest);
    pushedDigest = pushed.digest;
  });

  it('podman: login rejects a wrong password, then login + push + pull', async () => {
    const wrong = await tools.podman(
      ['login', '--tls-verify=false', '-u', TEST_USER.name, '--password-stdin', server.host],
      { allowFailure: true, input: 'wrong\n' },
    );
    expect(wrong.code).not.toBe(0);
    await tools.podman(['login', '--tls-verify=false', '-u', TEST_USER.name, '--password-stdin', server.host], {
      input: `${TEST_USER.password}\n`,
    });
    await tools.podman(['pull', '--tls-verify=false', `${server.host}/auth/app:1`]);
    await tools.podman(['tag', `${server.host}/auth/app:1`, `${server.host}/auth/podman:1`]);
    await tools.podman(['push', '--tls-verify=false', `${server.host}/auth/podman:1`]);
    const { text } = await tools.inspectRaw(`${server.host}/auth/podman:1`, { creds });
    expect(JSON.parse(text).config.digest).toBe(image.config.digest);
    await tools.podman(['logout', server.host]);
  });

  describe('docker', () => {
    let dockerd: Dockerd;
    beforeAll(async () => {
      dockerd = await startDockerd(await dirs.make('regctl-dk-'), { insecureRegistries: [server.host] });
    });
    afterAll(async () => {
      await dockerd?.stop();
    });

    it('login rejects a wrong password; pull without login is refused', async () => {
      const wrong = await dockerd.docker(['login', '-u', TEST_USER.name, '--password-stdin', server.host], {
        allowFailure: true,
        input: 'wrong\n',
      });
      expect(wrong.code).not.toBe(0);
      const anonymous = await dockerd.docker(['pull', `${server.host}/auth/app:1`], { allowFailure: true });
      expect(anonymous.code).not.toBe(0);
    });

    it('login, pull, push, pull back', async () => {
      const login = await dockerd.docker(['login', '-u', TEST_USER.name, '--password-stdin', server.host], {
        input: `${TEST_USER.password}\n`,
      });
      expect(login.stdout).toContain('Login Succeeded');
      const pulled = await dockerd.docker(['pull', `${server.host}/auth/app:1`]);
      expect(pulled.stdout).toContain(`Digest: ${pushedDigest}`);
      await dockerd.docker(['tag', `${server.host}/auth/app:1`, `${server.host}/auth/docker:1`]);
      const pushed = await dockerd.docker(['push', `${server.host}/auth/docker:1`]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
      expect(digest).toBeDefined();
      await dockerd.docker(['rmi', `${server.host}/auth/docker:1`]);
      const again = await dockerd.docker(['pull', `${server.host}/auth/docker:1`]);
      expect(again.stdout).toContain(`Digest: ${digest}`);
    });
  });
});
