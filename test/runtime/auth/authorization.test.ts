import { describe, expect, it } from 'vitest';
import { credentialsAfter, isBasicCredentials, isBearerToken } from '../../../runtime/auth/authorization.ts';

describe('credentialsAfter', () => {
  it('returns what follows the scheme, any ASCII case, after spaces or tabs, without trailing blanks', () => {
    expect(credentialsAfter('Basic YWI6Yw==', 'basic')).toBe('YWI6Yw==');
    expect(credentialsAfter('bAsIc \t YWI6Yw== \t', 'basic')).toBe('YWI6Yw==');
    expect(credentialsAfter('Bearer\tabc.def.ghi', 'bearer')).toBe('abc.def.ghi');
    expect(credentialsAfter('BEARER a b ', 'bearer')).toBe('a b');
    expect(credentialsAfter('Basic  ', 'basic')).toBe('');
  });

  it('is undefined for another scheme, a scheme without a blank after it, or a look-alike', () => {
    expect(credentialsAfter('Bearer abc', 'basic')).toBeUndefined();
    expect(credentialsAfter('Basic', 'basic')).toBeUndefined();
    expect(credentialsAfter('BasicYWI6Yw==', 'basic')).toBeUndefined();
    expect(credentialsAfter('Basics YWI6Yw==', 'basic')).toBeUndefined();
    expect(credentialsAfter(' Basic YWI6Yw==', 'basic')).toBeUndefined();
    // Only ASCII case counts: letters outside ASCII never match, even those Unicode folds to ASCII (ſ → s).
    expect(credentialsAfter('\u0142earer abc', 'bearer')).toBeUndefined();
    expect(credentialsAfter('\u017fasic YWI6Yw==', 'basic')).toBeUndefined();
    expect(credentialsAfter('', 'bearer')).toBeUndefined();
  });
});

describe('strict checks of the slow path', () => {
  it('accepts base64 (and ._-) as Basic credentials, nothing else', () => {
    expect(isBasicCredentials('YWI6Yw==')).toBe(true);
    expect(isBasicCredentials('a-b_c.d')).toBe(true);
    expect(isBasicCredentials('')).toBe(true);
    expect(isBasicCredentials('a b')).toBe(false);
    expect(isBasicCredentials('!!!')).toBe(false);
  });

  it('accepts one non-empty run without white space as a Bearer token', () => {
    expect(isBearerToken('abc.def.ghi')).toBe(true);
    expect(isBearerToken('')).toBe(false);
    expect(isBearerToken('a b')).toBe(false);
    expect(isBearerToken('a\u00a0b')).toBe(false);
  });
});
