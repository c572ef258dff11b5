/**
 * Secrets from the environment: the one place a plan's `{ env: NAME }` reference becomes a value.
 * The rule, for every consumer (user passwords, the token signing key, upstream and proxy
 * credentials, S3 settings): a variable that is unset **or empty** has no value — an empty secret
 * is always a deployment mistake (`FOO=` in a unit file), never a password. The compiler's
 * `env-unset` warning follows the same rule (compiler/env-check.ts).
 *
 * Values never appear in errors or logs: a failure names the variable and what it is for.
 */
import type { SecretRef } from '../compiler/plan.ts';

/** The value of `ref` in `env`, or undefined when the variable is unset or empty. */
export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[ref.env];
  return value === undefined || value === '' ? undefined : value;
}

/** A literal string passes through; a reference is read with {@link readSecret}. */
export function readSecretOrLiteral(value: string | SecretRef, env: NodeJS.ProcessEnv): string | undefined {
  return typeof value === 'string' ? value : readSecret(value, env);
}

/** A required secret whose variable is unset or empty: names the variable and its use, never a value. */
export class MissingSecretError extends Error {
  readonly code = 'SECRET_MISSING';
  readonly variable: string;

  constructor(variable: string, what: string) {
    super(`${what}: environment variable ${variable} is not set`);
    this.name = 'MissingSecretError';
    this.variable = variable;
  }
}

/** Resolves a literal or an env reference; throws {@link MissingSecretError} when it has no value. */
export function resolveSecret(value: string | SecretRef, env: NodeJS.ProcessEnv, what: string): string {
  const resolved = readSecretOrLiteral(value, env);
  if (resolved === undefined) throw new MissingSecretError((value as SecretRef).env, what);
  return resolved;
}
