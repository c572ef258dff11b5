import { type Diagnostic, error } from '../diagnostics.ts';
import type { Rule } from './types.ts';

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Every `{ env: NAME }` reference, wherever it is, names a conventional environment variable. */
export const envNames: Rule = (config) => {
  const out: Diagnostic[] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (Array.isArray(value))
      value.forEach((v, i) => {
        visit(v, [...path, i]);
      });
    else if (value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (Object.keys(record).length === 1 && typeof record.env === 'string' && !ENV_NAME.test(record.env)) {
        const hint = record.env.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
        out.push(
          error(
            'invalid-env-name',
            [...path, 'env'],
            `\`${record.env}\` is not a valid environment variable name ([A-Z_][A-Z0-9_]*)`,
            ENV_NAME.test(hint) ? `did you mean \`${hint}\`?` : undefined,
          ),
        );
      }
      for (const [key, v] of Object.entries(record)) visit(v, [...path, key]);
    }
  };
  visit(config, []);
  return out;
};
