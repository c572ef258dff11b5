/**
 * Best-of rounds for a throughput measured on both registries of a run. The machine drifts between
 * two measurements taken one after the other, so each round runs both sides, the order alternating
 * (distribution first in round 0), and each side keeps its best figure.
 */
import type { BenchRow } from './types.ts';

/** The two registries of a comparison. */
export type Side = 'regctl' | 'distribution';

/** Runs `task` for both sides, `rounds` times, alternating the order; returns the best of each. */
export async function bestOf(
  task: (side: Side, round: number) => Promise<number>,
  rounds = 2,
): Promise<Record<Side, number>> {
  const best: Record<Side, number> = { regctl: 0, distribution: 0 };
  for (let round = 0; round < rounds; round++) {
    const order: Side[] = round % 2 === 0 ? ['distribution', 'regctl'] : ['regctl', 'distribution'];
    for (const side of order) best[side] = Math.max(best[side], await task(side, round));
  }
  return best;
}

/** A MiB/s row of regctl's figure `r` against distribution's `d`, passing at `r ÷ d ≥ min`. */
export function throughputRow(metric: string, r: number, d: number, min: number): BenchRow {
  const ratio = r / d;
  return { metric, unit: 'MiB/s', regctl: r, baseline: d, ratio, target: `≥ ${min.toFixed(1)}×`, pass: ratio >= min };
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * The median over rounds of `a[i] ÷ b[i]`: two figures measured back to back in the same round
 * share the machine's state of the moment, so their ratio drifts far less than either figure,
 * and the median leaves out the round a neighbour's burst spoilt. Rounds missing either figure
 * are skipped.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (b[i]! > 0 && Number.isFinite(a[i]!)) ratios.push(a[i]! / b[i]!);
  }
  return median(ratios);
}
