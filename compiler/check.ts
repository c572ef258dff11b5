/**
 * Validation: the zod schema (shape, types, defaults) and every semantic rule, plus the
 * environment check when an environment is given. All problems are collected; nothing stops at
 * the first: when the schema rejects the config, the rules still run over what is left of it
 * (salvage.ts), so schema and cross-reference errors are reported together. No diagnostic
 * quotes a secret value of the input (secret-values.ts).
 */
import { type Config, ConfigSchema } from '../schema/index.ts';
import type { Diagnostic } from './diagnostics.ts';
import { checkEnvironment } from './env-check.ts';
import { RULES, type RuleContext } from './rules/index.ts';
import { isReported, salvage } from './salvage.ts';
import { withoutSecretValues } from './secret-values.ts';
import { diagnosticsFromZod } from './zod-issues.ts';

export type CheckResult = { config: Config; diagnostics: Diagnostic[] } | { config: null; diagnostics: Diagnostic[] };

export interface CheckOptions extends RuleContext {
  /** The environment the plan will run in: unset `{ env }` references are reported (`env-unset`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Report unset references as errors instead of warnings. */
  readonly strictEnv?: boolean;
}

function semantic(config: Config, options: CheckOptions): Diagnostic[] {
  const out = RULES.flatMap((rule) => rule(config, options));
  if (options.env !== undefined) out.push(...checkEnvironment(config, options.env, options.strictEnv));
  return out;
}

/**
 * Validates a loaded config value. Returns the config with defaults when the schema accepts it
 * (even if rules then report errors), so callers can decide on severity themselves.
 */
export function checkConfig(value: unknown, options: CheckOptions = {}): CheckResult {
  const parsed = ConfigSchema.safeParse(value);
  if (parsed.success)
    return { config: parsed.data, diagnostics: withoutSecretValues(semantic(parsed.data, options), value) };
  const schemaDiagnostics = diagnosticsFromZod(parsed.error.issues, ConfigSchema, value);
  const salvaged = salvage(value, ConfigSchema, parsed.error.issues);
  let ruleDiagnostics: Diagnostic[] = [];
  if (salvaged !== undefined) {
    const rest = ConfigSchema.safeParse(salvaged.value);
    if (rest.success) {
      const reported = new Set(schemaDiagnostics.map((d) => JSON.stringify(d.path)));
      ruleDiagnostics = semantic(rest.data, options).filter(
        (d) => isReported(d.path, salvaged) && !reported.has(JSON.stringify(d.path)),
      );
    }
  }
  return { config: null, diagnostics: withoutSecretValues([...schemaDiagnostics, ...ruleDiagnostics], value) };
}
