/**
 * A counting semaphore for `remote.maxConcurrency`: at most `max` requests to one upstream
 * endpoint at a time; later ones wait in arrival order (they are queued, never refused).
 * Without a maximum it only counts.
 */
export class ConcurrencyLimit {
  readonly #max: number;
  readonly #waiting: (() => void)[] = [];
  #active = 0;

  /** `max`: the most slots at once; undefined = unlimited. */
  constructor(max?: number) {
    this.#max = max ?? Number.POSITIVE_INFINITY;
  }

  /** Requests holding a slot now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Waits for a slot; resolves with its release function (calling it more than once releases
   * once). The caller must release it on every path.
   */
  async acquire(): Promise<() => void> {
    if (this.#active < this.#max) this.#active++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next !== undefined) next();
      else this.#active--;
    };
  }
}
