/**
 * Rounds of several contestants measured side by side (bench/cold-pull.ts): the order rotates
 * each round so none always goes first (a warm page cache or a neighbour's burst favours no one),
 * and each contestant's samples are summed up as median, min and max.
 */
import { median } from './rounds.ts';

/** The order of `names` in round `round`: rotated by one each round. */
export function rotation<T>(names: readonly T[], round: number): T[] {
  if (names.length === 0) return [];
  const shift = round % names.length;
  return [...names.slice(shift), ...names.slice(0, shift)];
}

/** Median, min and max of one contestant's samples (NaN for none). */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** The spread of `samples`. */
export function spreadOf(samples: readonly number[]): Spread {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 };
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), count: samples.length };
}

/**
 * A comma-separated pick of `known` names (`--only a,b`); every known name when `list` is
 * undefined. Throws naming the unknown ones; keeps the order of `known`.
 */
export function parsePick<T extends string>(list: string | undefined, known: readonly T[]): T[] {
  if (list === undefined) return [...known];
  const asked = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = asked.filter((s) => !(known as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`unknown: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  if (asked.length === 0) throw new Error(`pick at least one of ${known.join(', ')}`);
  return known.filter((name) => asked.includes(name));
}

/** `1 234 ms (1 100–1 300)`: a spread in whole milliseconds. */
export function formatSpread(spread: Spread): string {
  const ms = (value: number) => Math.round(value).toLocaleString('en-US').replaceAll(',', ' ');
  return `${ms(spread.median)} ms (${ms(spread.min)}–${ms(spread.max)})`;
}
