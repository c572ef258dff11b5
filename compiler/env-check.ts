/**
 * A check against a concrete environment: every `{ env: NAME }` the config references should be
 * set where the registry runs. A warning by default (the plan never holds secret values, and
 * `regctl validate` on a developer's machine usually runs without them); an error with
 * `strict` (`regctl validate --strict-env`, for the job or machine that has the real environment).
 * `serve` passes its env so operators learn at start, not at the first login, that a secret is missing.
 */
import type { Config } from '../schema/index.ts';
import { type Diagnostic, error, warning } from './diagnostics.ts';
import { findEnvRefs } from './env-refs.ts';

/** Diagnostics for env references that `env` does not define (empty counts as unset). */
export function checkEnvironment(config: Config, env: NodeJS.ProcessEnv, strict = false): Diagnostic[] {
  const report = strict ? error : warning;
  return findEnvRefs(config)
    .filter((ref) => !env[ref.name])
    .map((ref) =>
      report(
        'env-unset',
        ref.path,
        `environment variable \`${ref.name}\` is not set`,
        `set ${ref.name} where regctl runs; the config only names it`,
      ),
    );
}
