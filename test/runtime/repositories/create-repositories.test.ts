import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Plan, RepositoryPlan } from '../../../compiler/plan.ts';
import { HostedRepository } from '../../../runtime/repositories/hosted/hosted.ts';
import { createRepositories } from '../../../runtime/repositories/index.ts';
import type { Repository } from '../../../runtime/repositories/repository.ts';
import { ResourcePool } from '../../../runtime/resources.ts';
import type { BlobStore } from '../../../runtime/storage/blob-store.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';

// The proxy and group implementations are another engineer's; here only what they are handed matters.
const calls = vi.hoisted(() => ({ proxy: [] as unknown[][], group: [] as unknown[][] }));
vi.mock('../../../runtime/repositories/proxy/proxy.ts', () => ({
  createProxyRepository: (plan: RepositoryPlan, deps: unknown) => {
    calls.proxy.push([plan, deps]);
    return { name: plan.name, plan, kind: 'fake proxy' };
  },
}));
vi.mock('../../../runtime/repositories/group/group.ts', () => ({
  createGroupRepository: (plan: RepositoryPlan, deps: unknown) => {
    calls.group.push([plan, deps]);
    return { name: plan.name, plan, kind: 'fake group' };
  },
}));

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const base = { online: true, access: { anonymous: [] } } as const;

function makePlan(): Plan {
  const repositories: RepositoryPlan[] = [
    {
      ...base,
      name: 'all',
      type: 'group',
      blobStore: 'default',
      members: ['private', 'hub'],
      writableMember: 'private',
    },
    { ...base, name: 'private', type: 'hosted', blobStore: 'default', deploymentPolicy: 'allowRedeploy' },
    {
      ...base,
      name: 'hub',
      type: 'proxy',
      blobStore: 'cache',
      remote: { url: 'http://127.0.0.1:9', index: 'registry', auth: null, timeoutMs: 1000 },
      metadataMaxAgeMs: 1000,
      negativeCacheTtlMs: 1000,
      offline: false,
      httpProxy: null,
    },
    { ...base, name: 'pulls', type: 'group', blobStore: 'default', members: ['hub'], writableMember: null },
  ];
  return {
    id: 'test',
    version: 1,
    blobStores: {
      default: { name: 'default', driver: 'file', path: '/unused' },
      cache: { name: 'cache', driver: 'file', path: '/unused-too' },
    },
    repositories: Object.fromEntries(repositories.map((r) => [r.name, r])),
    listeners: [],
    security: {
      realm: 'regctl',
      users: [],
      roles: {},
      token: { enabled: false, issuer: 'regctl', service: 'regctl', ttlMs: 1000, signingKey: null },
    },
  };
}

describe('createRepositories', () => {
  let stores: Map<string, BlobStore>;
  beforeEach(() => {
    calls.proxy.length = 0;
    calls.group.length = 0;
    stores = new Map([
      ['default', createMemoryBlobStore({ name: 'default' })],
      ['cache', createMemoryBlobStore({ name: 'cache' })],
    ]);
  });

  it('builds leaves first, groups over the member instances, and keeps the plan order', async () => {
    const repositories = await createRepositories(makePlan(), stores, { env: {}, log });
    expect([...repositories.keys()]).toEqual(['all', 'private', 'hub', 'pulls']);
    const hostedRepository = repositories.get('private');
    expect(hostedRepository).toBeInstanceOf(HostedRepository);
    const [proxyPlan, proxyDeps] = calls.proxy[0] as [RepositoryPlan, { store: BlobStore; resources?: unknown }];
    expect(proxyPlan.name).toBe('hub');
    expect(proxyDeps.store).toBe(stores.get('cache'));
    expect(proxyDeps.resources).toBeUndefined();
    const groups = calls.group as [RepositoryPlan, { members: Repository[]; writable: Repository | null }][];
    expect(groups.map(([plan]) => plan.name)).toEqual(['all', 'pulls']);
    const [, allDeps] = groups[0] as (typeof groups)[0];
    expect(allDeps.members).toEqual([hostedRepository, repositories.get('hub')]);
    expect(allDeps.writable).toBe(hostedRepository);
    expect(groups[1]?.[1].writable).toBeNull();
  });

  it('hands a proxy the resource scope of the state, and builds every repository afresh', async () => {
    const resources = new ResourcePool().scope();
    const first = await createRepositories(makePlan(), stores, { env: {}, log, resources });
    const second = await createRepositories(makePlan(), stores, { env: {}, log, resources });
    const [, deps] = calls.proxy[1] as [RepositoryPlan, { resources?: unknown }];
    expect(deps.resources).toBe(resources);
    expect(second.get('private')).not.toBe(first.get('private'));
    expect(second.get('hub')).not.toBe(first.get('hub'));
  });

  it('rejects a blob store that was not opened or a member that is not a leaf', async () => {
    stores.delete('cache');
    await expect(createRepositories(makePlan(), stores, { env: {}, log })).rejects.toThrow(
      'repository hub: blob store cache was not opened',
    );
    stores.set('cache', createMemoryBlobStore({ name: 'cache' }));
    const plan = makePlan();
    const broken = {
      ...plan,
      repositories: { ...plan.repositories, all: { ...plan.repositories.all, members: ['pulls'] } },
    };
    await expect(createRepositories(broken as Plan, stores, { env: {}, log })).rejects.toThrow(
      'group all: member pulls is not a hosted or proxy repository of the plan',
    );
  });

  it('imports the proxy implementation only for a plan that has a proxy repository', async () => {
    vi.resetModules(); // a fresh module graph, with a proxy module that counts its imports
    let loads = 0;
    vi.doMock('../../../runtime/repositories/proxy/proxy.ts', () => {
      loads += 1;
      return { createProxyRepository: (plan: RepositoryPlan) => ({ name: plan.name, plan, kind: 'counted proxy' }) };
    });
    const fresh = await import('../../../runtime/repositories/index.ts');
    const plan = makePlan();
    const hostedOnly = { ...plan, repositories: { private: plan.repositories.private } } as Plan;
    const built = await fresh.createRepositories(hostedOnly, stores, { env: {}, log });
    expect([...built.keys()]).toEqual(['private']);
    expect(loads).toBe(0);
    const all = await fresh.createRepositories(plan, stores, { env: {}, log });
    expect(loads).toBe(1);
    expect(all.get('hub')).toMatchObject({ kind: 'counted proxy' });
  });
});
