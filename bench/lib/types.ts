/**
 * What every benchmark script reports, so `npm run bench` can print one table. A script under
 * `bench/` exports `bench(options)` returning a {@link BenchReport}; a script without that
 * export is run as a child process and its output passed through.
 */

/** One measured figure, for regctl and (when there is one) the baseline in the same run. */
export interface BenchRow {
  /** What was measured, e.g. "blob pull, 64 MiB × 8 concurrent". */
  readonly metric: string;
  /** 'MiB/s', 'req/s', 'ms', 'MiB'. */
  readonly unit: string;
  readonly regctl: number;
  /** The baseline's figure (distribution, or regctl anonymous for the auth row); null when none. */
  readonly baseline: number | null;
  /** regctl ÷ baseline for throughputs; baseline ÷ regctl for latencies and memory (>1 = regctl better). */
  readonly ratio: number | null;
  /** The target in words, e.g. "≥ 1.2×" or "< 5 ms". */
  readonly target: string;
  /** Whether the target is met; null when there is no target. */
  readonly pass: boolean | null;
}

export interface BenchReport {
  readonly name: string;
  /** What regctl was compared against, e.g. "distribution 2.8.2 (filesystem)". */
  readonly baseline: string;
  readonly rows: readonly BenchRow[];
  /** Free-form remarks: machine, sizes, anything odd seen during the run. */
  readonly notes: readonly string[];
}

export interface BenchOptions {
  /** Scale of sizes and counts: 1 = the documented benchmark, smaller for a quick check. */
  readonly scale: number;
  /** Progress lines go here (stderr by default). */
  readonly log: (line: string) => void;
  /** Phases to run (a script that has phases, e.g. hosted: push, pull, get, rss); all when absent. */
  readonly only?: readonly string[];
}
