/**
 * The last line of defence against echoing a secret: every value in the user's config that is or
 * may be a secret is collected, and any diagnostic that would print one gets it replaced by `***`.
 * Messages are written not to quote such values in the first place (zod-issues.ts, rules/urls.ts);
 * this catches what a future rule or a library message might still quote.
 *
 * Collected: every string or number at or under a secret field (`password`, `accessKeyId`,
 * `secretAccessKey`, `signingKey`) other than the name in an `{ env: NAME }` reference, and the user-info part of every URL-like string
 * (`user:pass@host`, with or without a scheme). Values shorter than 4 characters are not replaced
 * (they would garble messages, and are not credible secrets).
 */
import type { Diagnostic } from './diagnostics.ts';
import { isSecretPath } from './zod-issues.ts';

const MIN_LENGTH = 4;
const USER_INFO = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/@\s]+)@[^@\s]+$/i;

/** The secret-looking values in `input`, longest first (so a longer one is replaced whole). */
export function collectSecretValues(input: unknown): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value.length >= MIN_LENGTH) found.add(value);
  };
  const walk = (value: unknown, path: (string | number)[], depth: number) => {
    if (depth > 64) return;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
      const text = String(value);
      // `{ env: NAME }` names a variable: a reference, not a secret.
      if (isSecretPath(path) && path.at(-1) !== 'env') add(text);
      const info = typeof value === 'string' ? USER_INFO.exec(value)?.[1] : undefined;
      if (info !== undefined) {
        add(info);
        for (const part of info.split(':')) add(part);
        for (const part of info.split(':')) add(decodeSafely(part));
      }
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((item, i) => [i, item])
      : Object.entries(value);
    for (const [key, item] of entries) walk(item, [...path, key], depth + 1);
  };
  walk(input, [], 0);
  return [...found].sort((a, b) => b.length - a.length);
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, '***');
  return out;
}

/** `diagnostics` with every secret value of `input` in a message or hint replaced by `***`. */
export function withoutSecretValues(diagnostics: readonly Diagnostic[], input: unknown): Diagnostic[] {
  const secrets = collectSecretValues(input);
  if (secrets.length === 0) return [...diagnostics];
  return diagnostics.map((d) => {
    const message = scrub(d.message, secrets);
    const hint = d.hint === undefined ? undefined : scrub(d.hint, secrets);
    return message === d.message && hint === d.hint ? d : { ...d, message, ...(hint === undefined ? {} : { hint }) };
  });
}
