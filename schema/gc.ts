/**
 * Storage lifecycle settings: the garbage-collection schedule (`gc`, top level), cleanup policies
 * of hosted repositories (`cleanup`), quotas (`quota`) and size-bounded proxy caches (`maxSize`).
 * What they do: docs/gc.md.
 */
import { z } from 'zod';
import { DurationSchema, parseDuration, SizeSchema } from './primitives.ts';

/** Whether `source` compiles as a JavaScript regular expression. */
function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const PatternSchema = z.string().min(1).refine(isRegExp, 'is not a valid regular expression');

/** When garbage collection runs, and what it spares. */
export const GcSchema = z
  .strictObject({
    interval: DurationSchema.optional().describe(
      'How often every blob store is collected while serving; 0 or absent = never on a schedule (run `regctl gc`)',
    ),
    gracePeriod: DurationSchema.default('1h').describe(
      'Content younger than this is never collected: a push in progress has this long to reference what it uploaded',
    ),
    settle: DurationSchema.optional().describe(
      'How long a pass keeps what it removes restorable before deleting it (default: the grace period, at most 60s): a client that found a blob present has this long to push a manifest referencing it',
    ),
  })
  .describe('Online garbage collection of the blob stores');

/** One cleanup rule: see docs/gc.md "Cleanup policies". */
export const CleanupRuleSchema = z
  .strictObject({
    tags: PatternSchema.optional().describe(
      'Regular expression selecting the tags this rule applies to (default: all)',
    ),
    protect: PatternSchema.optional().describe('Regular expression of tags this rule never deletes'),
    keep: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Always keep this many most recently pushed selected tags'),
    olderThan: DurationSchema.optional().describe('Delete selected tags pushed longer ago than this'),
    notPulledFor: DurationSchema.optional().describe(
      'Delete selected tags not pulled for this long (never pulled: since their push)',
    ),
  })
  .superRefine((rule, ctx) => {
    if (rule.keep === undefined && rule.olderThan === undefined && rule.notPulledFor === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'a cleanup rule needs keep, olderThan or notPulledFor (a rule with none would delete every selected tag); add one of them',
      });
    }
    for (const field of ['olderThan', 'notPulledFor'] as const) {
      const value = rule[field];
      if (value !== undefined && parseDuration(value) <= 0) {
        ctx.addIssue({ code: 'custom', path: [field], message: `must be longer than 0 (for example "30d")` });
      }
    }
  })
  .describe('A cleanup rule: which tags garbage collection deletes');

/** A size cap that must be above zero. */
export const CapSchema = SizeSchema.refine(
  (value) => typeof value !== 'number' || value > 0,
  'must be larger than 0 (for example "10GiB")',
);

export type GcInput = z.input<typeof GcSchema>;
export type CleanupRuleInput = z.input<typeof CleanupRuleSchema>;
export type CleanupRuleConfig = z.output<typeof CleanupRuleSchema>;
