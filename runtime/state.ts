/**
 * The runtime state compiled from one plan: live blob stores, repositories, the access controller
 * and a route resolver per listener. Built in three steps, build → check → ready; a failure at any
 * step closes what the attempt created and throws, so the caller (startup or a reload) keeps
 * whatever served before.
 *
 * A reload passes the previous state: a blob store whose definition did not change is the same
 * instance in the new state, and so are the repositories `createRepositories` decides to keep,
 * which keeps caches, pools and single-flight maps across reloads. Resources are reference-counted
 * across generations ({@link ResourcePool}), so disposing an old state closes only what no newer
 * state still uses.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type BlobStorePlan, canonicalJson, type Plan } from '../compiler/plan.ts';
import type { AccessController } from './auth/types.ts';
import { RouteResolver } from './http/resolve-repository.ts';
import type { Repository } from './repository/repository.ts';
import type { BlobStore } from './storage/blob-store.ts';

/** The factories a state is built with: the real modules by default, fakes in unit tests. */
export interface RuntimeFactories {
  createBlobStore(plan: BlobStorePlan, options: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger }): Promise<BlobStore>;
  createRepositories(
    plan: Plan,
    stores: Map<string, BlobStore>,
    deps: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger; previous?: Map<string, Repository> },
  ): Promise<Map<string, Repository>>;
  createAccessController(
    plan: Plan,
    options: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger; previous?: AccessController },
  ): Promise<AccessController>;
}

export interface RuntimeStateOptions {
  env: NodeJS.ProcessEnv;
  log: FastifyBaseLogger;
  /** The state being replaced, whose unchanged resources are reused. */
  previous?: RuntimeState;
  factories?: RuntimeFactories;
}

/** Everything a request needs, for one plan. Immutable once built. */
export interface RuntimeState {
  readonly plan: Plan;
  readonly stores: ReadonlyMap<string, BlobStore>;
  readonly repositories: ReadonlyMap<string, Repository>;
  readonly access: AccessController;
  /** Route resolver per `ListenerPlan.id`. */
  readonly routes: ReadonlyMap<string, RouteResolver>;
  /** Closes the resources no newer state shares. Idempotent. */
  dispose(): Promise<void>;
}

/** Counts how many live states use each resource; closes one when its last user lets go. */
export class ResourcePool {
  readonly #entries = new Map<object, { count: number; close: () => Promise<void> }>();

  retain(resource: object, close: () => Promise<void>): void {
    const entry = this.#entries.get(resource);
    if (entry) entry.count += 1;
    else this.#entries.set(resource, { count: 1, close });
  }

  async release(resource: object): Promise<void> {
    const entry = this.#entries.get(resource);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    this.#entries.delete(resource);
    await entry.close();
  }

  /** How many states hold `resource` (0 when closed or unknown). */
  holders(resource: object): number {
    return this.#entries.get(resource)?.count ?? 0;
  }
}

/** The real factories, imported on first use so unit tests that pass fakes load none of them. */
async function loadFactories(): Promise<RuntimeFactories> {
  const [storage, repository, auth] = await Promise.all([
    import('./storage/index.ts'),
    import('./repository/index.ts'),
    import('./auth/index.ts'),
  ]);
  return {
    createBlobStore: storage.createBlobStore,
    createRepositories: repository.createRepositories,
    createAccessController: auth.createAccessController,
  };
}

/** The live state of a plan, with the pool it shares with its predecessors and successors. */
class CompiledState implements RuntimeState {
  readonly plan: Plan;
  readonly stores: ReadonlyMap<string, BlobStore>;
  readonly repositories: ReadonlyMap<string, Repository>;
  readonly access: AccessController;
  readonly routes: ReadonlyMap<string, RouteResolver>;
  readonly pool: ResourcePool;
  readonly #held: object[];
  #disposal: Promise<void> | undefined;

  constructor(init: Omit<RuntimeState, 'dispose'> & { pool: ResourcePool; held: object[] }) {
    this.plan = init.plan;
    this.stores = init.stores;
    this.repositories = init.repositories;
    this.access = init.access;
    this.routes = init.routes;
    this.pool = init.pool;
    this.#held = init.held;
  }

  dispose(): Promise<void> {
    this.#disposal ??= (async () => {
      const results = await Promise.allSettled(this.#held.map((resource) => this.pool.release(resource)));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.#disposal;
  }
}

function closerOf(resource: object): () => Promise<void> {
  const close = (resource as { close?: () => unknown }).close;
  return typeof close === 'function' ? async () => void (await close.call(resource)) : async () => undefined;
}

/** Builds, checks and returns the state of `plan`; see the module comment for reuse and failure. */
export async function createRuntimeState(plan: Plan, options: RuntimeStateOptions): Promise<RuntimeState> {
  const { env, log } = options;
  const previous = options.previous instanceof CompiledState ? options.previous : undefined;
  const factories = options.factories ?? (await loadFactories());
  const pool = previous?.pool ?? new ResourcePool();
  const created: object[] = [];
  try {
    // build: blob stores (reused when unchanged), then repositories, then access
    const stores = new Map<string, BlobStore>();
    for (const [name, definition] of Object.entries(plan.blobStores)) {
      const old = previous?.stores.get(name);
      if (old && canonicalJson(previous?.plan.blobStores[name]) === canonicalJson(definition)) {
        stores.set(name, old);
        continue;
      }
      const store = await factories.createBlobStore(definition, { env, log });
      created.push(store);
      stores.set(name, store);
      // check: a new store must answer before it serves
      await store.listMeta('').catch((error: unknown) => {
        throw new Error(`blob store "${name}" is not usable: ${error instanceof Error ? error.message : error}`, {
          cause: error,
        });
      });
    }
    const repositories = await factories.createRepositories(plan, stores, {
      env,
      log,
      ...(previous ? { previous: new Map(previous.repositories) } : {}),
    });
    for (const repository of repositories.values()) {
      if (!previous || pool.holders(repository) === 0) created.push(repository);
    }
    const access = await factories.createAccessController(plan, {
      env,
      log,
      ...(previous ? { previous: previous.access } : {}),
    });
    created.push(access);

    // check: every route names a live repository
    const exists = (name: string) => repositories.has(name);
    const routes = new Map(plan.listeners.map((listener) => [listener.id, new RouteResolver(listener, exists)]));
    for (const listener of plan.listeners) {
      const { defaultRepository, paths, virtualHosts, mirrors } = listener;
      const named = [
        defaultRepository,
        ...Object.values(paths),
        ...Object.values(virtualHosts),
        ...Object.values(mirrors),
      ];
      const missing = named.filter((name): name is string => name !== null && !exists(name));
      if (missing.length > 0)
        throw new Error(`listener ${listener.id} routes to unknown repositories: ${missing.join(', ')}`);
    }

    // ready: retain what this state uses (shared resources get one more holder)
    const held: object[] = [...stores.values(), ...repositories.values(), access];
    for (const resource of held) pool.retain(resource, closerOf(resource));
    return new CompiledState({ plan, stores, repositories, access, routes, pool, held });
  } catch (error) {
    await Promise.allSettled(created.map((resource) => closerOf(resource)()));
    throw error;
  }
}
