/**
 * An optional check against a concrete environment: every `{ env: NAME }` the config references
 * should be set where the registry runs. Only warnings (the plan never holds secret values, and
 * `regctl validate` in CI usually runs without them); `serve` passes its env so operators learn
 * at start, not at the first login, that a secret is missing.
 */
import type { Config } from '../schema/index.ts';
import { type Diagnostic, type DiagnosticPath, warning } from './diagnostics.ts';

/** Warnings for env references that `env` does not define (empty counts as unset). */
export function checkEnvironment(config: Config, env: NodeJS.ProcessEnv): Diagnostic[] {
  const out: Diagnostic[] = [];
  const visit = (value: unknown, path: DiagnosticPath) => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        visit(v, [...path, i]);
      });
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (Object.keys(record).length === 1 && typeof record.env === 'string') {
      if (!env[record.env]) out.push(warning('env-unset', path, `environment variable \`${record.env}\` is not set`));
      return;
    }
    for (const [key, v] of Object.entries(record)) visit(v, [...path, key]);
  };
  visit(config, []);
  return out;
}
