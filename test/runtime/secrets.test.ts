/** The one secret resolver: literals pass, env references are read, unset and empty are alike. */
import { describe, expect, it } from 'vitest';
import { MissingSecretError, readSecret, readSecretOrLiteral, resolveSecret } from '../../runtime/secrets.ts';

describe('secrets', () => {
  it('reads an env reference; unset and empty variables have no value', () => {
    expect(readSecret({ env: 'S' }, { S: 'value' })).toBe('value');
    expect(readSecret({ env: 'S' }, {})).toBeUndefined();
    expect(readSecret({ env: 'S' }, { S: '' })).toBeUndefined();
    expect(readSecretOrLiteral('literal', {})).toBe('literal');
    expect(readSecretOrLiteral({ env: 'S' }, { S: '' })).toBeUndefined();
  });

  it('resolves literals and references, and names the variable and its use (never a value) when missing', () => {
    expect(resolveSecret('bucket', {}, 'x')).toBe('bucket');
    expect(resolveSecret({ env: 'B' }, { B: 'from-env' }, 'x')).toBe('from-env');
    for (const env of [{}, { B: '' }]) {
      let thrown: unknown;
      try {
        resolveSecret({ env: 'B' }, env, 'blob store "s3" bucket');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(MissingSecretError);
      expect(thrown).toMatchObject({
        code: 'SECRET_MISSING',
        variable: 'B',
        message: 'blob store "s3" bucket: environment variable B is not set',
      });
    }
  });
});
