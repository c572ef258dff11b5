/**
 * An optional check against a concrete environment: every `{ env: NAME }` the config references
 * should be set where the registry runs. Only warnings (the plan never holds secret values, and
 * `regctl validate` in CI usually runs without them); `serve` passes its env so operators learn
 * at start, not at the first login, that a secret is missing.
 */
import type { Config } from '../schema/index.ts';
import { type Diagnostic, warning } from './diagnostics.ts';
import { findEnvRefs } from './env-refs.ts';

/** Warnings for env references that `env` does not define (empty counts as unset). */
export function checkEnvironment(config: Config, env: NodeJS.ProcessEnv): Diagnostic[] {
  return findEnvRefs(config)
    .filter((ref) => !env[ref.name])
    .map((ref) => warning('env-unset', ref.path, `environment variable \`${ref.name}\` is not set`));
}
