/**
 * Builds the live repository objects of a plan: the one place that knows the three
 * implementations and how they depend on each other.
 *
 * The proxy implementation (and with it the upstream client and undici) is imported only when the
 * plan has a proxy repository: a registry of hosted repositories does not carry it (≈ 7 MiB of a
 * server's resident memory, measured on a fresh server of the benchmark's hosted config).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Plan, RepositoryPlan } from '../../compiler/plan.ts';
import type { RepositoryObservers } from '../events.ts';
import type { ResourceScope } from '../resources.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { createGroupRepository } from './group/group.ts';
import { createHostedRepository } from './hosted/hosted.ts';
import { isWritable, type Repository, type WritableRepository } from './repository.ts';

/** What {@link createRepositories} needs besides the plan and its opened blob stores. */
export interface RepositoryDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly log: FastifyBaseLogger;
  /**
   * The state's leases on resources shared across reloads (runtime/resources.ts): a proxy leases its
   * upstream there, so an unchanged remote keeps its pools, tokens, negative cache and in-flight
   * fetches across a reload. Hosted and group repositories hold nothing shared: their only state
   * is caches (content by digest, pull metadata trusted for a second), which a new instance
   * refills from the store. Without it (unit tests) every proxy owns its upstream.
   */
  readonly resources?: ResourceScope;
  /** Where proxies and groups report cache results, upstream traffic and member hits (metrics). */
  readonly observers?: RepositoryObservers;
}

/**
 * Creates every repository of `plan`, keyed by name, in dependency order: leaf repositories
 * (hosted, proxy) first, then groups over the instances of their members. Group members are
 * leaves because the compiler flattens nested groups; a member or blob store missing from the
 * plan is a compiler bug and throws, so a reload built on it fails and the old state keeps serving.
 *
 * The returned map's iteration order is the plan's order of repositories.
 */
export async function createRepositories(
  plan: Plan,
  stores: ReadonlyMap<string, BlobStore>,
  deps: RepositoryDeps,
): Promise<Map<string, Repository>> {
  const built = new Map<string, Repository>();
  const plans = Object.values(plan.repositories);
  const { createProxyRepository } = plans.some((repository) => repository.type === 'proxy')
    ? await import('./proxy/proxy.ts')
    : { createProxyRepository: undefined };
  for (const repository of plans) {
    if (repository.type === 'group') continue;
    const log = deps.log.child({ repository: repository.name });
    const store = storeOf(repository, stores);
    if (repository.type === 'hosted') {
      built.set(repository.name, createHostedRepository(repository, { store, log }));
    } else {
      built.set(
        repository.name,
        createProxyRepository!(repository, {
          store,
          env: deps.env,
          log,
          ...(deps.resources === undefined ? {} : { resources: deps.resources }),
          ...(deps.observers === undefined ? {} : { observers: deps.observers }),
        }),
      );
    }
  }
  for (const repository of plans) {
    if (repository.type !== 'group') continue;
    const memberOf = (name: string): Repository => {
      const member = built.get(name);
      if (member === undefined) {
        throw new Error(`group ${repository.name}: member ${name} is not a hosted or proxy repository of the plan`);
      }
      return member;
    };
    const writableOf = (name: string): WritableRepository => {
      const member = memberOf(name);
      if (!isWritable(member)) throw new Error(`group ${repository.name}: writableMember ${name} is not writable`);
      return member;
    };
    const members = repository.members.map(memberOf);
    const writable = repository.writableMember === null ? null : writableOf(repository.writableMember);
    const log = deps.log.child({ repository: repository.name });
    const observer = deps.observers?.group(repository.name);
    built.set(
      repository.name,
      createGroupRepository(repository, { members, writable, log, ...(observer === undefined ? {} : { observer }) }),
    );
  }
  // Keep the plan's order for whoever lists repositories (status endpoint, logs).
  return new Map(plans.map((repository) => [repository.name, built.get(repository.name) as Repository]));
}

function storeOf(repository: RepositoryPlan, stores: ReadonlyMap<string, BlobStore>): BlobStore {
  const store = stores.get(repository.blobStore);
  if (store === undefined) {
    throw new Error(`repository ${repository.name}: blob store ${repository.blobStore} was not opened`);
  }
  return store;
}
