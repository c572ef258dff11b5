/**
 * Converts zod issues into {@link Diagnostic}s with friendly messages and "did you mean" hints.
 * Unknown keys get the closest known key of the object at that path, found by walking the schema
 * alongside the user's input (discriminated unions pick the option named by the input's `type`).
 */
import type { z } from 'zod';
import { formatHintFor, type IssueHint } from '../schema/index.ts';
import { type Diagnostic, type DiagnosticPath, didYouMean, error } from './diagnostics.ts';

type AnySchema = z.ZodType;
interface SchemaDef {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  innerType?: AnySchema;
  valueType?: AnySchema;
  options?: AnySchema[];
  discriminator?: string;
  in?: AnySchema;
}

function defOf(schema: AnySchema): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

function valueAt(input: unknown, path: DiagnosticPath): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** The object schemas that may describe `value`, after unwrapping defaults, optionals and unions. */
function objectOptions(schema: AnySchema, value: unknown): SchemaDef[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return [def];
    case 'default':
    case 'optional':
    case 'nullable':
    case 'prefault':
      return objectOptions(def.innerType!, value);
    case 'pipe':
      return objectOptions(def.in!, value);
    case 'union': {
      const all = def.options!.flatMap((option) => objectOptions(option, value));
      const discriminator = def.discriminator;
      if (discriminator !== undefined && value !== null && typeof value === 'object') {
        const wanted = (value as Record<string, unknown>)[discriminator];
        const matching = all.filter((o) => {
          const literal = o.shape?.[discriminator];
          return (
            literal !== undefined &&
            (literal as unknown as { _zod: { values?: Set<unknown> } })._zod.values?.has(wanted)
          );
        });
        if (matching.length > 0) return matching;
      }
      return all;
    }
    default:
      return [];
  }
}

/** Known keys of the object at `path`, or [] when the schema cannot tell. */
export function knownKeysAt(root: AnySchema, input: unknown, path: DiagnosticPath): string[] {
  let candidates: AnySchema[] = [root];
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const value = valueAt(input, path.slice(0, i));
    const next: AnySchema[] = [];
    for (const schema of candidates) {
      for (const option of unwrapAll(schema, value)) {
        const def = defOf(option);
        if (def.type === 'object' && typeof segment === 'string' && def.shape?.[segment]) next.push(def.shape[segment]);
        else if (def.type === 'array' && typeof segment === 'number') next.push(def.element!);
        else if (def.type === 'record') next.push(def.valueType!);
      }
    }
    candidates = next;
  }
  const value = valueAt(input, path);
  const keys = new Set<string>();
  for (const schema of candidates)
    for (const def of objectOptions(schema, value)) for (const k of Object.keys(def.shape ?? {})) keys.add(k);
  return [...keys];
}

function unwrapAll(schema: AnySchema, value: unknown): AnySchema[] {
  const def = defOf(schema);
  if (['default', 'optional', 'nullable', 'prefault'].includes(def.type)) return unwrapAll(def.innerType!, value);
  if (def.type === 'pipe') return unwrapAll(def.in!, value);
  if (def.type === 'union') {
    const objects = objectOptions(schema, value);
    const others = def.options!.filter((o) => defOf(o).type !== 'object').flatMap((o) => unwrapAll(o, value));
    return [...objects.map((d) => ({ _zod: { def: d } }) as unknown as AnySchema), ...others];
  }
  return [schema];
}

/**
 * Fields that hold a secret (`{ env: NAME }` in the schema): their values are never described in
 * a message, whatever their type, and a value written in their place is `plaintext-secret`.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['password', 'accessKeyId', 'secretAccessKey', 'signingKey']);

/** True when `path` is a secret field or lies inside one. */
export function isSecretPath(path: DiagnosticPath): boolean {
  return path.some((segment) => typeof segment === 'string' && SECRET_FIELDS.has(segment));
}

/** `security.users[i].password`, the one secret that may also be a bcrypt hash. */
function isUserPasswordPath(path: DiagnosticPath): boolean {
  return path[0] === 'security' && path[1] === 'users' && path[3] === 'password';
}

/** The error for a value written where a secret reference belongs; says nothing of the value. */
function plaintextSecret(path: DiagnosticPath): Diagnostic {
  const field = String(path.findLast((s) => typeof s === 'string' && SECRET_FIELDS.has(s)) ?? path.at(-1));
  const hint = isUserPasswordPath(path)
    ? "use { bcrypt: '$2b$…' } (`regctl passwd` or htpasswd -nbB user pass) or { env: 'NAME' }"
    : "use { env: 'NAME' } and set NAME where regctl runs";
  const form = isUserPasswordPath(path) ? '{ env: NAME } or { bcrypt: HASH }' : '{ env: NAME }';
  return error(
    'plaintext-secret',
    path,
    `\`${field}\` takes ${form}, not a value written in the config (not shown)`,
    hint,
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/**
 * How to fix what `issue` reports, when the schema knows: the hint a refinement attached
 * (`positiveDuration`, `positiveSize`), or how to write a malformed duration or size.
 */
function hintOf(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code === 'custom') return (issue.params as Partial<IssueHint> | undefined)?.hint;
  if (issue.code === 'invalid_format' && issue.format === 'regex') return formatHintFor(String(issue.pattern));
  return undefined;
}

/** Converts one zod error's issues to diagnostics, keeping every issue. */
export function diagnosticsFromZod(
  issues: readonly z.core.$ZodIssue[],
  schema: AnySchema,
  input: unknown,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const value = valueAt(input, path);
    if (issue.code !== 'unrecognized_keys' && isSecretPath(path)) {
      // A value where a secret reference belongs: never described (it may be the secret itself).
      if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
        out.push(plaintextSecret(path));
        continue;
      }
      if (value !== undefined) {
        const expected = isUserPasswordPath(path) ? '{ bcrypt: HASH } or { env: NAME }' : '{ env: NAME }';
        out.push(error('invalid-type', path, `expected ${expected} (value not shown)`));
        continue;
      }
    }
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, input, path);
        for (const key of issue.keys) {
          const hint = didYouMean(key, known) ?? (known.length ? `known fields: ${known.join(', ')}` : undefined);
          out.push(error('unknown-field', [...path, key], `unknown field \`${key}\``, hint));
        }
        break;
      }
      case 'invalid_value': {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ');
        const hint = typeof value === 'string' ? didYouMean(value, issue.values.map(String)) : undefined;
        out.push(error('invalid-value', path, `${describe(value)} is not one of ${allowed}`, hint));
        break;
      }
      case 'invalid_union': {
        if ('discriminator' in issue && issue.discriminator) {
          const options = (issue as { options?: unknown[] }).options?.map(String) ?? [];
          const hint = typeof value === 'string' ? didYouMean(value, options) : undefined;
          const message =
            value === undefined
              ? `missing \`${issue.discriminator}\`: expected one of ${options.map((o) => `"${o}"`).join(', ')}`
              : `unknown ${issue.discriminator} ${JSON.stringify(value)}: expected one of ${options.map((o) => `"${o}"`).join(', ')}`;
          out.push(error(value === undefined ? 'missing-field' : 'invalid-value', path, message, hint));
        } else if (value === undefined) {
          out.push(error('missing-field', path, `missing required field \`${String(path.at(-1) ?? '')}\``));
        } else {
          out.push(error('invalid-type', path, `${describe(value)} does not match any accepted form`, issue.message));
        }
        break;
      }
      case 'invalid_type': {
        if (value === undefined) {
          out.push(error('missing-field', path, `missing required field \`${String(path.at(-1) ?? '')}\``));
        } else {
          out.push(error('invalid-type', path, `expected ${issue.expected}, got ${describe(value)}`));
        }
        break;
      }
      default:
        out.push(error(issue.code.replaceAll('_', '-'), path, issue.message, hintOf(issue)));
    }
  }
  return out;
}
