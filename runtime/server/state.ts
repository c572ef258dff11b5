/**
 * The runtime state compiled from one plan: live blob stores, repositories, the access controller
 * and a route resolver per listener. Built in three steps, build → check → ready; a failure at any
 * step releases what the attempt took and throws, so the caller (startup or a reload) keeps
 * whatever served before.
 *
 * The ownership rule across reloads (docs/architecture.md, "Resources shared across reloads"):
 * anything that outlives one state — a blob store, a proxy's upstream client with its pools,
 * token cache, negative cache and single-flight tables — lives in the {@link ResourcePool} under
 * a key that names everything it is built from, and a state only ever holds *leases* on such
 * resources ({@link ResourceScope}). Objects built per state (repositories, the access
 * controller) are owned by that state alone and never close anything they did not create: they
 * reach shared things through a lease. A reload asks the pool for each key; an equal key gets the
 * live instance, a changed one a new instance. A resource closes when the last state leasing it
 * is disposed, so disposing an old state can never close what a newer state serves with.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type BlobStorePlan, canonicalJson, type Plan } from '../../compiler/plan.ts';
import type { AccessController } from '../auth/types.ts';
import type { RepositoryObservers } from '../events.ts';
import { RouteResolver } from '../http/resolve-repository.ts';
import type { Repository } from '../repositories/repository.ts';
import { ResourcePool, type ResourceScope } from '../resources.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/** The factories a state is built with: the real modules by default, fakes in unit tests. */
export interface RuntimeFactories {
  createBlobStore(plan: BlobStorePlan, options: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger }): Promise<BlobStore>;
  createRepositories(
    plan: Plan,
    stores: Map<string, BlobStore>,
    deps: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger; resources: ResourceScope; observers?: RepositoryObservers },
  ): Promise<Map<string, Repository>>;
  createAccessController(
    plan: Plan,
    options: { env: NodeJS.ProcessEnv; log: FastifyBaseLogger; previous?: AccessController },
  ): Promise<AccessController>;
}

export interface RuntimeStateOptions {
  env: NodeJS.ProcessEnv;
  log: FastifyBaseLogger;
  /** The state being replaced: its pool is shared, so unchanged resources carry over. */
  previous?: RuntimeState;
  factories?: RuntimeFactories;
  /** Where repositories report what the metrics count (the process's `RegistryMetrics`). */
  observers?: RepositoryObservers;
}

/** Everything a request needs, for one plan. Immutable once built. */
export interface RuntimeState {
  readonly plan: Plan;
  readonly stores: ReadonlyMap<string, BlobStore>;
  readonly repositories: ReadonlyMap<string, Repository>;
  readonly access: AccessController;
  /** Route resolver per `ListenerPlan.id`. */
  readonly routes: ReadonlyMap<string, RouteResolver>;
  /** Closes what this state owns and releases its leases on shared resources. Idempotent. */
  dispose(): Promise<void>;
}

/** The real factories, imported on first use so unit tests that pass fakes load none of them. */
async function loadFactories(): Promise<RuntimeFactories> {
  const [storage, repository, auth] = await Promise.all([
    import('../storage/index.ts'),
    import('../repositories/index.ts'),
    import('../auth/index.ts'),
  ]);
  return {
    createBlobStore: storage.createBlobStore,
    createRepositories: repository.createRepositories,
    createAccessController: auth.createAccessController,
  };
}

/** The live state of a plan, with its leases on the pool it shares with predecessors and successors. */
class CompiledState implements RuntimeState {
  readonly plan: Plan;
  readonly stores: ReadonlyMap<string, BlobStore>;
  readonly repositories: ReadonlyMap<string, Repository>;
  readonly access: AccessController;
  readonly routes: ReadonlyMap<string, RouteResolver>;
  readonly pool: ResourcePool;
  readonly #scope: ResourceScope;

  constructor(init: Omit<RuntimeState, 'dispose'> & { pool: ResourcePool; scope: ResourceScope }) {
    this.plan = init.plan;
    this.stores = init.stores;
    this.repositories = init.repositories;
    this.access = init.access;
    this.routes = init.routes;
    this.pool = init.pool;
    this.#scope = init.scope;
  }

  dispose(): Promise<void> {
    return this.#scope.release();
  }
}

/** The `close()` of an object, if it has one. */
function closerOf(resource: object): () => Promise<void> {
  const close = (resource as { close?: () => unknown }).close;
  return typeof close === 'function' ? async () => void (await close.call(resource)) : async () => undefined;
}

/** The pool key of a blob store: its name and its whole definition. */
export function blobStoreKey(name: string, definition: BlobStorePlan): string {
  return `blob-store:${name}:${canonicalJson(definition)}`;
}

/** Builds, checks and returns the state of `plan`; see the module comment for reuse and failure. */
export async function createRuntimeState(plan: Plan, options: RuntimeStateOptions): Promise<RuntimeState> {
  const { env, log } = options;
  const previous = options.previous instanceof CompiledState ? options.previous : undefined;
  const factories = options.factories ?? (await loadFactories());
  const pool = previous?.pool ?? new ResourcePool();
  const scope = pool.scope();
  try {
    // build: blob stores (the live instance when the definition is unchanged), then repositories, then access
    const stores = new Map<string, BlobStore>();
    for (const [name, definition] of Object.entries(plan.blobStores)) {
      const { value, created } = scope.use(
        blobStoreKey(name, definition),
        () => factories.createBlobStore(definition, { env, log }),
        async (opening) => closerOf(await opening)(),
      );
      const store = await value;
      stores.set(name, store);
      // check: a new store must answer before it serves
      if (created) {
        await store.listMeta('').catch((error: unknown) => {
          throw new Error(`blob store "${name}" is not usable: ${error instanceof Error ? error.message : error}`, {
            cause: error,
          });
        });
      }
    }
    const repositories = await factories.createRepositories(plan, stores, {
      env,
      log,
      resources: scope,
      ...(options.observers === undefined ? {} : { observers: options.observers }),
    });
    for (const repository of repositories.values()) scope.own(closerOf(repository));
    const access = await factories.createAccessController(plan, {
      env,
      log,
      ...(previous ? { previous: previous.access } : {}),
    });
    scope.own(closerOf(access));

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
    return new CompiledState({ plan, stores, repositories, access, routes, pool, scope });
  } catch (error) {
    await scope.release().catch(() => undefined);
    throw error;
  }
}
