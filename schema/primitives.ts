/**
 * Primitive value schemas shared by the whole config: names, durations, sizes, actions.
 *
 * The schemas accept what a human writes (`'24h'`, `'16MiB'`) and stay transform-free so the
 * emitted JSON Schema describes exactly the input. Conversion to the plan's units (milliseconds,
 * bytes) is done by the pure helpers below, which the compiler calls.
 */
import { z } from 'zod';

/** Repository, blob store, user and role names: checked for OCI validity by a compiler rule. */
export const NameSchema = z.string().min(1, 'must not be empty').describe('A name, unique in its list');

/** A number and a unit; the one pattern both the schema and the parsers below use. */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)$/;

/** `'30s' | '15m' | '24h' | '7d' | '250ms'` or a number of seconds. */
export const DurationSchema = z
  .union([
    z.number().nonnegative(),
    z.string().regex(DURATION, 'expected a duration such as "30s", "15m", "24h" or "7d"'),
  ])
  .describe('A duration: a number of seconds, or a string such as "30s", "15m", "24h", "7d"');

/** `'16MiB'`, `'5MB'`, `'1GiB'` or a number of bytes. */
export const SizeSchema = z
  .union([z.number().int().nonnegative(), z.string().regex(SIZE, 'expected a size such as "16MiB" or "5MB"')])
  .describe('A size: a number of bytes, or a string such as "16MiB", "5MB", "1GiB"');

/** What {@link positiveDuration} and {@link positiveSize} attach to their issue: how to fix it. */
export interface IssueHint {
  readonly hint: string;
}

/** How to write a duration: the hint of a diagnostic about a malformed one. */
export const DURATION_HINT =
  "write a number and a unit (ms, s, m, h, d), e.g. '90s', '30m', '1h', or a number of seconds";
/** How to write a size: the hint of a diagnostic about a malformed one. */
export const SIZE_HINT =
  "write a number and a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. '512MiB', '20GiB', or a number of bytes";

/** The hint for a value that failed `pattern` (a duration's or a size's), or undefined. */
export function formatHintFor(pattern: string): string | undefined {
  if (pattern === String(DURATION)) return DURATION_HINT;
  if (pattern === String(SIZE)) return SIZE_HINT;
  return undefined;
}

/**
 * A duration that must be longer than 0, with `hint` (how to fix a non-positive value) carried
 * by the issue to the diagnostic. Only a well-formed value is judged here; a malformed one gets
 * the format's own issue (the refinement runs on it too, so it must not throw).
 */
export function positiveDuration(hint: string) {
  return z
    .union([z.number(), z.string().regex(DURATION, 'expected a duration such as "30s", "15m", "24h" or "7d"')])
    .refine((value) => !(tryParse(parseDuration, value) <= 0), {
      message: 'must be longer than 0',
      params: { hint } satisfies IssueHint,
    })
    .describe('A duration longer than 0: a number of seconds, or a string such as "30s", "15m", "24h", "7d"');
}

/** A size that must be more than 0 bytes; see {@link positiveDuration}. */
export function positiveSize(hint: string) {
  return z
    .union([z.number().int(), z.string().regex(SIZE, 'expected a size such as "16MiB" or "5MB"')])
    .refine((value) => !(tryParse(parseSize, value) <= 0), {
      message: 'must be more than 0 bytes',
      params: { hint } satisfies IssueHint,
    })
    .describe('A size of more than 0 bytes: a number of bytes, or a string such as "512MiB", "20GiB"');
}

/** `parse(value)`, or NaN for a value its schema rejects anyway. */
function tryParse<T>(parse: (value: T) => number, value: T): number {
  try {
    return parse(value);
  } catch {
    return Number.NaN;
  }
}

/** What a client may do on a repository. */
export const ActionSchema = z.enum(['pull', 'push', 'delete']);

export type DurationInput = z.input<typeof DurationSchema>;
export type SizeInput = z.input<typeof SizeSchema>;

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Converts a validated duration to milliseconds (numbers are seconds). Pure; throws only on input
 * the schema would have rejected.
 */
export function parseDuration(value: DurationInput): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const match = DURATION.exec(value);
  if (!match) throw new TypeError(`invalid duration: ${value}`);
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS]);
}

const SIZE_UNITS = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 } as const;

/** Converts a validated size to bytes. Pure; throws only on input the schema would have rejected. */
export function parseSize(value: SizeInput): number {
  if (typeof value === 'number') return value;
  const match = SIZE.exec(value);
  if (!match) throw new TypeError(`invalid size: ${value}`);
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2] as keyof typeof SIZE_UNITS]);
}
