/**
 * The two registries of a hosted benchmark, started side by side on loopback for the same run:
 * `regctl serve` (file blob store) and the CNCF distribution registry (filesystem storage).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseChallenges } from '../../runtime/upstream/token-auth.ts';
import { type Distribution, startDistribution } from '../../test/helpers/distribution.ts';
import { type RegctlServer, startRegctl } from '../../test/helpers/regctl-server.ts';

/** User of the secured repository (password in env `BENCH_PASSWORD` of the regctl process). */
export const BENCH_USER = { name: 'bench', password: 'bench-password-not-secret' } as const;

export interface HostedServers {
  readonly regctl: RegctlServer;
  readonly distribution: Distribution;
  stop(): Promise<void>;
}

/**
 * Where a benchmarked regctl keeps its files under `root`: the config (and a relative `./data`
 * store) in `root/config`, made here, and the log in `root`. `serve` watches the config's folder,
 * and a log written there would wake the watcher on every write (a directory rescan each time,
 * about a third of the CPU of a manifest GET when measured); a deployment logs to stdout, not into
 * its config folder. Spread into `startRegctl`'s options.
 */
export async function regctlDirs(root: string): Promise<{ dir: string; logFile: string }> {
  const dir = join(root, 'config');
  await mkdir(dir, { recursive: true });
  return { dir, logFile: join(root, 'regctl.log') };
}

/**
 * regctl with two hosted repositories on one listener: `open` (default route, anonymous
 * pull/push) and `secured` (path `/v2/secured/...`, forced authentication, user `bench`).
 * regctl's files are laid out by {@link regctlDirs}; distribution's log is in its own dir.
 */
export async function startHostedServers(regctlDir: string, distributionDir: string): Promise<HostedServers> {
  const distribution = await startDistribution({ dir: distributionDir });
  const regctl = await startRegctl({
    ...(await regctlDirs(regctlDir)),
    env: { BENCH_PASSWORD: BENCH_USER.password },
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'open', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
        { name: 'secured', type: 'hosted', anonymous: [] },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'open', paths: ['secured'] }],
      security: {
        users: [{ name: BENCH_USER.name, password: { env: 'BENCH_PASSWORD' }, roles: ['rw'] }],
        roles: { rw: [{ repositories: ['secured'], actions: ['pull', 'push'] }] },
        token: { enabled: true, ttl: '1h' },
      },
    },
  }).catch(async (error: unknown) => {
    await distribution.stop();
    throw error;
  });
  return {
    regctl,
    distribution,
    async stop() {
      await Promise.all([regctl.stop(), distribution.stop()]);
    },
  };
}

/** A Bearer token for `scope` from the registry's token endpoint, when `/v2/` challenges with Bearer. */
export async function fetchBearerToken(
  base: string,
  path: string,
  scope: string,
  basic: string,
): Promise<string | null> {
  const challenge = await fetch(`${base}${path}`);
  await challenge.arrayBuffer();
  const params = parseChallenges(challenge.headers.get('www-authenticate') ?? undefined).find(
    (c) => c.scheme === 'bearer',
  )?.params;
  if (!params?.realm) return null;
  const url = new URL(params.realm, base);
  if (params.service) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', scope);
  const res = await fetch(url, { headers: { authorization: basic } });
  if (!res.ok) return null;
  const body = (await res.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token ?? null;
}

/**
 * The `storage.s3` section of a CNCF registry config for the Ceph server `ceph` (path-style, plain
 * HTTP), its keys under `/<rootdirectory>`; `extra` adds settings such as `chunksize`.
 */
export function distributionS3Storage(
  ceph: { accessKeyId: string; secretAccessKey: string; region: string; endpoint: string; bucket: string },
  rootdirectory: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    accesskey: ceph.accessKeyId,
    secretkey: ceph.secretAccessKey,
    region: ceph.region,
    regionendpoint: ceph.endpoint,
    bucket: ceph.bucket,
    forcepathstyle: true,
    secure: false,
    v4auth: true,
    rootdirectory: `/${rootdirectory}`,
    ...extra,
  };
}
