/**
 * Validation: the zod schema first (shape, types, defaults), then every semantic rule over the
 * schema-valid config. All problems are collected; nothing stops at the first.
 */
import { type Config, ConfigSchema } from '../schema/index.ts';
import type { Diagnostic } from './diagnostics.ts';
import { RULES } from './rules/index.ts';
import { diagnosticsFromZod } from './zod-issues.ts';

export type CheckResult = { config: Config; diagnostics: Diagnostic[] } | { config: null; diagnostics: Diagnostic[] };

/**
 * Validates a loaded config value. Returns the config with defaults when the schema accepts it
 * (even if rules then report errors), so callers can decide on severity themselves.
 */
export function checkConfig(value: unknown): CheckResult {
  const parsed = ConfigSchema.safeParse(value);
  if (!parsed.success)
    return { config: null, diagnostics: diagnosticsFromZod(parsed.error.issues, ConfigSchema, value) };
  return { config: parsed.data, diagnostics: RULES.flatMap((rule) => rule(parsed.data)) };
}
