import { type Diagnostic, error } from '../diagnostics.ts';
import { findEnvRefs } from '../env-refs.ts';
import type { Rule } from './types.ts';

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Every `{ env: NAME }` reference, wherever it is, names a conventional environment variable. */
export const envNames: Rule = (config) =>
  findEnvRefs(config)
    .filter((ref) => !ENV_NAME.test(ref.name))
    .map((ref): Diagnostic => {
      const hint = ref.name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
      return error(
        'invalid-env-name',
        [...ref.path, 'env'],
        `\`${ref.name}\` is not a valid environment variable name ([A-Z_][A-Z0-9_]*)`,
        ENV_NAME.test(hint) ? `did you mean \`${hint}\`?` : undefined,
      );
    });
