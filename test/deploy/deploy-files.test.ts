/**
 * The deploy files are part of the product: the Kubernetes manifests are consistent with each
 * other, with the image the Dockerfile builds and with the package version; the systemd unit is
 * valid for systemd (systemd-analyze verify) and hardened (systemd-analyze security, offline).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { requireBinary, run } from '../helpers/process.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFile(join(ROOT, path), 'utf8');
const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

interface Manifest {
  kind: string;
  metadata: { name: string };
  // biome-ignore lint/suspicious/noExplicitAny: untyped YAML, read field by field by the assertions
  spec: Record<string, any>;
}

async function manifests(file: string): Promise<Manifest[]> {
  return parseAllDocuments(await read(join('deploy/kubernetes', file))).map((d) => d.toJS() as Manifest);
}

describe('deploy/kubernetes', () => {
  it('lists every manifest in its kustomization', async () => {
    const [kustomization] = await manifests('kustomization.yaml');
    expect([...(kustomization as unknown as { resources: string[] }).resources].sort()).toEqual([
      'deployment.yaml',
      'pvc.yaml',
      'service.yaml',
    ]);
  });

  it('runs the image the Dockerfile builds, as its user, with probes, resources and the git-sync sidecar', async () => {
    const { version } = JSON.parse(await read('package.json')) as { version: string };
    const dockerfile = await read('Dockerfile');
    const [deployment] = await manifests('deployment.yaml');
    const pod = deployment!.spec.template.spec;
    const regctl = pod.containers.find((c: { name: string }) => c.name === 'regctl');
    expect(regctl.image).toBe(`regctl-registry:${version}`);
    expect(dockerfile).toContain(`docker build -t regctl-registry:${version} .`);
    expect(`${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`).toBe(
      /^USER (\S+)$/m.exec(dockerfile)![1],
    );
    expect(regctl.securityContext.readOnlyRootFilesystem).toBe(true);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      expect(regctl[probe].httpGet).toEqual({ path: '/-/health', port: 'registry' });
    expect(regctl.resources.requests.memory).toBeDefined();
    expect(regctl.resources.limits.memory).toBeDefined();
    const port = regctl.ports.find((p: { name: string }) => p.name === 'registry');
    expect(String(port.containerPort)).toBe(/^EXPOSE (\d+)$/m.exec(dockerfile)![1]);
    // The GitOps loop: git-sync updates /config/current, which regctl serves (and watches).
    expect(pod.containers.map((c: { name: string }) => c.name).sort()).toEqual(['git-sync', 'regctl']);
    expect(pod.initContainers.map((c: { args: string[] }) => c.args)).toContainEqual(
      expect.arrayContaining(['--link=current', '--one-time']),
    );
    expect(regctl.args).toEqual(['serve', '--config', '/config/current/registry.config.ts']);
    const mounts = Object.fromEntries(regctl.volumeMounts.map((m: { name: string }) => [m.name, m]));
    expect(mounts.config).toMatchObject({ mountPath: '/config', readOnly: true });
    expect(mounts.data.mountPath).toBe('/data');

    const [pvc] = await manifests('pvc.yaml');
    const data = pod.volumes.find((v: { name: string }) => v.name === 'data');
    expect(data.persistentVolumeClaim.claimName).toBe(pvc!.metadata.name);
    const [service] = await manifests('service.yaml');
    expect(service!.spec.ports[0].targetPort).toBe('registry');
    expect(service!.spec.selector).toEqual(deployment!.spec.selector.matchLabels);
  });
});

describe('deploy/systemd/regctl.service', () => {
  it('is hardened: a dynamic user, a read-only system, the blob stores the only writable paths', async () => {
    const unit = await read('deploy/systemd/regctl.service');
    for (const line of [
      'DynamicUser=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/regctl',
      'NoNewPrivileges=yes',
    ])
      expect(unit.split('\n')).toContain(line);
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/regctl serve --config \/etc\/regctl\/registry\.config\.ts$/m);
  });

  it('passes systemd-analyze verify, and security rates its exposure OK or better', async () => {
    const analyze = requireBinary('systemd-analyze', 'systemd');
    const dir = await dirs.make('regctl-systemd-');
    const file = join(dir, 'regctl.service');
    // verify checks that the binaries exist: stand /bin/true in for regctl.
    await writeFile(
      file,
      (await read('deploy/systemd/regctl.service')).replaceAll('/usr/local/bin/regctl', '/bin/true'),
    );
    const verified = await run(analyze, ['verify', file], { allowFailure: true });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stderr.trim()).toBe('');
    const security = await run(analyze, ['security', '--offline=yes', '--no-pager', file], { allowFailure: true });
    const exposure = /Overall exposure level for regctl\.service: ([\d.]+) (\w+)/.exec(security.stdout);
    expect(exposure, security.stdout + security.stderr).not.toBeNull();
    expect(Number(exposure![1])).toBeLessThanOrEqual(2);
  });
});
