import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../compiler/index.ts';

const root = join(import.meta.dirname, '..', '..');
const valid = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'invalid')
  .map((d) => d.name);

describe('valid examples', () => {
  it('covers the documented scenarios', () => {
    expect(valid).toEqual(expect.arrayContaining(['minimal', 'local-proxy', 's3', 'nexus-seed', 'kubernetes-mirror']));
  });

  it.each(valid)('%s compiles without errors or warnings', async (name) => {
    const result = await buildPlan({ configPath: join(root, 'examples', name, 'registry.config.ts') });
    expect(result.diagnostics).toEqual([]);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.plan.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the root registry.config.ts serves hosted `private` on 127.0.0.1:5000', async () => {
    const result = await buildPlan({ cwd: root });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.configPath).toBe(join(root, 'registry.config.ts'));
    expect(result.plan.listeners).toMatchObject([{ id: '127.0.0.1:5000', defaultRepository: 'private' }]);
    expect(result.plan.repositories.private).toMatchObject({
      type: 'hosted',
      access: { anonymous: ['pull', 'push', 'delete'] },
    });
    expect(result.plan.blobStores.default).toEqual({
      name: 'default',
      driver: 'file',
      path: join(root, 'data'),
      uploads: { timeoutMs: 3_600_000, maxBytes: null },
    });
  });

  it('minimal: default repository, file store under examples/minimal/data', async () => {
    const result = await buildPlan({ configPath: join(root, 'examples/minimal/registry.config.ts') });
    if (!result.ok) throw new Error('invalid');
    expect(result.plan.blobStores.default).toMatchObject({ driver: 'file', path: join(root, 'examples/minimal/data') });
    expect(result.plan.listeners).toEqual([
      {
        id: '127.0.0.1:5000',
        host: '127.0.0.1',
        port: 5000,
        tls: null,
        mirrors: {},
        virtualHosts: {},
        paths: {},
        defaultRepository: 'private',
      },
    ]);
  });

  it('local-proxy: group of hosted then proxy, writable member private', async () => {
    const result = await buildPlan({ configPath: join(root, 'examples/local-proxy/registry.config.ts') });
    if (!result.ok) throw new Error('invalid');
    expect(result.plan.repositories.registry).toMatchObject({
      type: 'group',
      members: ['private', 'upstream'],
      writableMember: 'private',
    });
    expect(result.plan.repositories.upstream).toMatchObject({
      type: 'proxy',
      remote: { url: 'http://127.0.0.1:5070', index: 'registry' },
    });
  });

  it('s3: every secret is an env reference, the port comes from PORT', async () => {
    const result = await buildPlan({ configPath: join(root, 'examples/s3/registry.config.ts') });
    if (!result.ok) throw new Error('invalid');
    expect(result.plan.blobStores.s3).toEqual({
      name: 's3',
      driver: 's3',
      bucket: { env: 'S3_BUCKET' },
      prefix: '',
      region: 'us-east-1',
      endpoint: { env: 'S3_ENDPOINT' },
      forcePathStyle: true,
      credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
      redirect: false,
      partSize: 16 * 1024 * 1024,
      uploads: { timeoutMs: 3_600_000, maxBytes: null },
    });
  });

  it('nexus-seed: the YAML and the TS config validate alike and compile to the same plan id', async () => {
    const ts = await buildPlan({ configPath: join(root, 'examples/nexus-seed/registry.config.ts') });
    const yaml = await buildPlan({ configPath: join(root, 'examples/nexus-seed/registry.config.yaml') });
    expect(ts.ok && yaml.ok).toBe(true);
    if (!ts.ok || !yaml.ok) return;
    expect(yaml.diagnostics).toEqual(ts.diagnostics);
    expect(yaml.plan.id).toBe(ts.plan.id);
    expect(yaml.plan).toEqual(ts.plan);
    expect(ts.plan.repositories.registry).toMatchObject({
      members: ['docker-private', 'docker-hub', 'google-containers'],
      writableMember: 'docker-private',
      access: { anonymous: [] },
    });
    expect(ts.plan.listeners[0]).toMatchObject({ port: 80, defaultRepository: 'registry' });
  });

  it('kubernetes-mirror: four namespaces behind one endpoint', async () => {
    const result = await buildPlan({ configPath: join(root, 'examples/kubernetes-mirror/registry.config.ts') });
    if (!result.ok) throw new Error('invalid');
    expect(result.plan.listeners[0]!.mirrors).toEqual({
      'docker.io': 'docker-hub',
      'gcr.io': 'gcr',
      'quay.io': 'quay',
      'registry.k8s.io': 'k8s',
    });
    expect(result.plan.repositories['docker-hub']).toMatchObject({ remote: { index: 'docker-hub' } });
    expect(result.plan.repositories.quay).toMatchObject({ remote: { index: 'registry' } });
  });
});
