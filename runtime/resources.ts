/**
 * Resources that outlive one runtime state, and the leases states hold on them: the mechanism of
 * the ownership rule across reloads (docs/architecture.md, "Resources shared across reloads"). A
 * server has one {@link ResourcePool}; each state (and each build attempt) has a
 * {@link ResourceScope}. Repositories reach shared things (a proxy's upstream) through the scope
 * they are built with; runtime/server/state.ts releases it when the state is disposed.
 */

interface PoolEntry {
  readonly value: unknown;
  count: number;
  readonly close: () => Promise<void>;
}

/**
 * The resources shared by the states of one server, keyed by what they are built from. Each
 * entry counts the scopes that lease it and is closed when the last lease is released. Only
 * {@link ResourceScope}s touch it.
 */
export class ResourcePool {
  readonly #entries = new Map<string, PoolEntry>();

  /** A new, empty set of leases (one per state or build attempt). */
  scope(): ResourceScope {
    return new ResourceScope(this);
  }

  /** How many leases `key` has (0: closed or never created). */
  holders(key: string): number {
    return this.#entries.get(key)?.count ?? 0;
  }

  /** @internal for {@link ResourceScope} */
  lease<T>(key: string, create: () => T, close: (value: T) => unknown): { value: T; created: boolean } {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.count += 1;
      return { value: entry.value as T, created: false };
    }
    const value = create();
    this.#entries.set(key, { value, count: 1, close: async () => void (await close(value)) });
    return { value, created: true };
  }

  /** @internal for {@link ResourceScope} */
  async release(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    this.#entries.delete(key);
    await entry.close();
  }
}

/**
 * The leases of one state on the pool, plus the closers of what the state owns alone. `use`
 * returns the live resource of a key (or creates it); `own` registers something built for this
 * state only. `release()` gives all of it back: owned things close, leased ones close only when
 * no other scope leases them.
 */
export class ResourceScope {
  readonly #pool: ResourcePool;
  readonly #leased: string[] = [];
  readonly #owned: Array<() => Promise<void>> = [];
  #released: Promise<void> | undefined;

  constructor(pool: ResourcePool) {
    this.#pool = pool;
  }

  /**
   * The resource named `key`, leased by this scope until it is released. `key` must name
   * everything the resource is built from (a reload with an equal key gets the same instance);
   * `created` says whether this call built it.
   */
  use<T>(key: string, create: () => T, close: (value: T) => unknown): { value: T; created: boolean } {
    if (this.#released !== undefined) throw new Error('resource scope already released');
    const leased = this.#pool.lease(key, create, close);
    this.#leased.push(key);
    return leased;
  }

  /** Registers the closer of something only this scope's state uses. */
  own(close: () => unknown): void {
    this.#owned.push(async () => void (await close()));
  }

  /** Closes what it owns and releases every lease; the first failure is thrown. Idempotent. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      const results = await Promise.allSettled([
        ...this.#owned.map((close) => close()),
        ...this.#leased.map((key) => this.#pool.release(key)),
      ]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.#released;
  }
}
