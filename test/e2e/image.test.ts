/**
 * The container image, built and run. No Docker engine and no base image are reachable here, so
 * the image is built the way scripts/build-image-offline.sh builds it for air-gapped machines: the
 * Dockerfile's runtime stage assembled with buildah from the packed tarball and the local Node.js.
 * The test checks that its user, entry point, command, working folder, volume, port, environment
 * and HEALTHCHECK are the Dockerfile's, then runs it with podman (root, vfs storage, read-only root
 * filesystem, host network on loopback) with a config mounted at /config: skopeo pushes an image,
 * podman pulls it back, and the HEALTHCHECK passes.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { npmEnv, packPackage } from '../helpers/package.ts';
import { requireBinary, run, waitForHttp } from '../helpers/process.ts';
import { REPO_ROOT } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const IMAGE = 'localhost/regctl-registry:e2e';
const CONTAINER = 'regctl-e2e';
const dirs = new TmpDirs();
let tools: ContainersTools;
let port: number;
let started = false;

/** The Dockerfile's instructions of its last stage (the image users run), by keyword. */
async function runtimeStage(): Promise<Map<string, string[]>> {
  const text = (await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ');
  const stages = text.split(/^FROM /m);
  const instructions = new Map<string, string[]>();
  for (const line of stages.at(-1)!.split('\n')) {
    const match = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (match) instructions.set(match[1]!, [...(instructions.get(match[1]!) ?? []), match[2]!]);
  }
  return instructions;
}

/** podman's arguments for running the image here: this machine's limits and cgroups (see below). */
const RUNTIME_ARGS = [
  // The sandbox this runs in refuses raising rlimits to podman's defaults, and crun refuses its
  // hybrid cgroup layout: use runc and the limits the machine has.
  '--runtime',
  'runc',
  '--ulimit',
  'nofile=4096:4096',
  '--ulimit',
  'nproc=4096:4096',
];

beforeAll(async () => {
  requireBinary('buildah', 'buildah');
  requireBinary('runc', 'runc');
  tools = await createContainersTools(await dirs.make('regctl-image-tools-'));
  const tarball = await packPackage(await dirs.make('regctl-image-pack-'));
  const storage = join(tools.dir, 'podman');
  await run('bash', [join(REPO_ROOT, 'scripts/build-image-offline.sh'), tarball, IMAGE], {
    env: {
      ...npmEnv(),
      BUILDAH_OPTS: `--root ${join(storage, 'root')} --runroot ${join(storage, 'run')} --storage-driver vfs`,
    },
    timeoutMs: 170_000,
  });
}, 180_000);

afterAll(async () => {
  if (started) await tools.podman(['rm', '-f', '-t', '2', CONTAINER], { allowFailure: true });
  await dirs.cleanup();
});

describe('the container image', () => {
  it("has the Dockerfile's user, entry point, command, folders, port, environment and HEALTHCHECK", async () => {
    const stage = await runtimeStage();
    const [inspected] = JSON.parse((await tools.podman(['image', 'inspect', IMAGE])).stdout);
    const config = inspected.Config;
    expect(config.User).toBe(stage.get('USER')![0]);
    expect(config.WorkingDir).toBe(stage.get('WORKDIR')![0]);
    expect(config.Entrypoint).toEqual(JSON.parse(stage.get('ENTRYPOINT')![0]!));
    expect(config.Cmd).toEqual(JSON.parse(stage.get('CMD')![0]!));
    expect(Object.keys(config.Volumes)).toEqual(JSON.parse(stage.get('VOLUME')![0]!));
    expect(Object.keys(config.ExposedPorts)).toEqual(stage.get('EXPOSE'));
    for (const env of stage.get('ENV')!) expect(config.Env).toContain(env);
    const healthcheck = stage.get('HEALTHCHECK')![0]!;
    const test = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4));
    expect(inspected.Healthcheck.Test).toEqual(['CMD', ...test]);
    expect(healthcheck).toContain('--interval=30s');
    expect(inspected.Healthcheck.Interval).toBe(30e9);
  });

  it('starts read-only and non-root, serves a skopeo push and a podman pull, and is healthy', async () => {
    port = await freePort();
    const config = await dirs.make('regctl-image-config-');
    // The image's default config, on a free loopback port (host network: nothing leaves 127.0.0.1).
    const source = await readFile(join(REPO_ROOT, 'deploy/container/registry.config.ts'), 'utf8');
    expect(source).toMatch(/host: '0\.0\.0\.0', port: 5000/);
    await writeFile(
      join(config, 'registry.config.ts'),
      source.replace("host: '0.0.0.0', port: 5000", `host: '127.0.0.1', port: ${port}`),
    );
    // Readable by the image's user (uid 1000), as a mounted config must be.
    await chmod(config, 0o755);
    await chmod(join(config, 'registry.config.ts'), 0o644);
    await tools.podman([
      'run',
      '--detach',
      '--name',
      CONTAINER,
      '--network',
      'host',
      '--read-only',
      ...RUNTIME_ARGS,
      '--volume',
      `${config}:/config:ro`,
      '--env',
      `REGCTL_HEALTH_URL=http://127.0.0.1:${port}/v2/`,
      IMAGE,
    ]);
    started = true;
    const logs = async () => {
      const result = await tools.podman(['logs', CONTAINER], { allowFailure: true });
      return result.stdout + result.stderr;
    };
    let last = '';
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, {
      timeoutMs: 30_000,
      describe: () => last,
    }).catch(async (error) => {
      last = await logs();
      throw new Error(`${(error as Error).message}\n${last}`);
    });

    const top = await tools.podman(['top', CONTAINER, 'user', 'args']);
    expect(top.stdout).toMatch(/^node\s+node \/opt\/regctl\/node_modules\/regctl-registry\/bin\/regctl\.mjs serve/m);

    const layout = await dirs.make();
    const image = buildImage({ seed: 'container-image' });
    await writeOciLayout(layout, { image });
    const reference = `127.0.0.1:${port}/team/app:1`;
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, `docker://${reference}`]);
    await tools.podman(['pull', '--tls-verify=false', reference]);
    const [pulled] = JSON.parse((await tools.podman(['image', 'inspect', reference])).stdout);
    expect(pulled.RootFS.Layers).toHaveLength(image.layers.length);

    const health = await tools.podman(['healthcheck', 'run', CONTAINER], { allowFailure: true });
    expect(health.code, health.stdout + health.stderr).toBe(0);
    expect((await tools.podman(['inspect', '--format', '{{.State.Running}}', CONTAINER])).stdout.trim()).toBe('true');
  });
});
