/**
 * Where a config refers to the environment: every `{ env: NAME }` secret reference, wherever it
 * sits. Shared by the `invalid-env-name` rule and the `env-unset` check, so both agree on what
 * counts as a reference (an object whose one key is a string `env`).
 */
import type { DiagnosticPath } from './diagnostics.ts';

export interface EnvRef {
  /** The variable name, as written. */
  readonly name: string;
  /** Path of the `{ env }` object itself. */
  readonly path: DiagnosticPath;
}

/** Every `{ env: NAME }` in `value`, in document order. */
export function findEnvRefs(value: unknown): EnvRef[] {
  const out: EnvRef[] = [];
  const visit = (node: unknown, path: (string | number)[]) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        visit(item, [...path, i]);
      });
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (Object.keys(record).length === 1 && typeof record.env === 'string') {
      out.push({ name: record.env, path });
      return;
    }
    for (const [key, item] of Object.entries(record)) visit(item, [...path, key]);
  };
  visit(value, []);
  return out;
}
