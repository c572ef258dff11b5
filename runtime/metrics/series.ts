/**
 * The children of one labelled prom-client metric, cached by their label values, so the hot path
 * costs a map lookup instead of prom-client's label hashing, and so every series this process
 * created can be removed when a reload takes its repository or upstream away.
 */

/** What {@link SeriesCache} needs of a prom-client Counter, Gauge or Histogram. */
export interface LabelledMetric<C> {
  labels(...values: string[]): C;
  remove(...values: string[]): void;
}

export class SeriesCache<C> {
  readonly #metric: LabelledMetric<C>;
  readonly #children = new Map<string, { readonly values: readonly string[]; readonly child: C }>();

  constructor(metric: LabelledMetric<C>) {
    this.#metric = metric;
  }

  /** The child of these label values (created on first use). */
  get(...values: string[]): C {
    const key = values.join('\u0001');
    let entry = this.#children.get(key);
    if (entry === undefined) {
      entry = { values, child: this.#metric.labels(...values) };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Removes every series whose label at `index` is not in `keep` (it is no longer in the plan). */
  prune(index: number, keep: ReadonlySet<string>): void {
    for (const [key, { values }] of this.#children) {
      const value = values[index];
      if (value === undefined || value === '' || keep.has(value)) continue;
      this.#metric.remove(...values);
      this.#children.delete(key);
    }
  }

  /** Removes every series (an info metric whose value changed). */
  clear(): void {
    for (const { values } of this.#children.values()) this.#metric.remove(...values);
    this.#children.clear();
  }
}
