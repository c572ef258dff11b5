/**
 * Config → plan in one step for compiler tests: {@link compileChecked} (throws with the
 * diagnostics when the config does not check) and {@link configErrors} (the error diagnostics).
 */
import { checkConfig, compilePlan, type Diagnostic, type Plan } from '../../compiler/index.ts';
import type { ConfigInput } from '../../schema/index.ts';

/** The plan of `input`, compiled as from a config file in `/srv`. */
export function compileChecked(input: ConfigInput): Plan {
  const checked = checkConfig(input);
  if (checked.config === null) throw new Error(JSON.stringify(checked.diagnostics));
  return compilePlan(checked.config, { configDir: '/srv' });
}

/** The error diagnostics of `input` (warnings left out). */
export function configErrors(input: unknown): Diagnostic[] {
  return checkConfig(input).diagnostics.filter((d) => d.severity === 'error');
}
