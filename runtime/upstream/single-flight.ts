/**
 * Coalescing of concurrent identical work: while a call for `key` is in flight, later calls for the
 * same key get the same promise instead of starting their own. Each `ProxyRepository` owns one
 * instance (never module state), so two repositories never share, and a reload starts fresh.
 *
 * The entry is removed when the promise settles, success or failure: a failure is not remembered
 * (the next call retries), and a success is expected to be found in the cache by the next call.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>();

  /**
   * Runs `work` unless a call for `key` is already in flight, in which case that call's promise is
   * returned. `joined` tells the caller which case it was (a leader may own extra resources, such
   * as the client-facing half of a tee, that joiners do not get).
   */
  run(key: string, work: () => Promise<T>): { promise: Promise<T>; joined: boolean } {
    const existing = this.#inflight.get(key);
    if (existing !== undefined) return { promise: existing, joined: true };
    const promise = (async () => work())().finally(() => {
      if (this.#inflight.get(key) === promise) this.#inflight.delete(key);
    });
    this.#inflight.set(key, promise);
    return { promise, joined: false };
  }

  /** The in-flight promise for `key`, if any. */
  get(key: string): Promise<T> | undefined {
    return this.#inflight.get(key);
  }

  /** How many keys are in flight (for tests and status). */
  get size(): number {
    return this.#inflight.size;
  }
}
