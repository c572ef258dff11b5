import { describe, expect, it } from 'vitest';
import {
  formatBasicChallenge,
  formatBearerChallenge,
  formatScope,
  quote,
  tokenRealm,
} from '../../../runtime/auth/challenge.ts';

describe('challenges', () => {
  it('builds the realm from the protocol and host the client used', () => {
    expect(tokenRealm({ protocol: 'https', host: 'hub.example.test' })).toBe('https://hub.example.test/-/token');
    expect(tokenRealm({ protocol: 'http', host: '127.0.0.1:5000' })).toBe('http://127.0.0.1:5000/-/token');
  });

  it('formats Bearer challenges with optional scope and error, Basic with a realm', () => {
    expect(
      formatBearerChallenge({
        realm: 'http://r/-/token',
        service: 'regctl',
        scope: formatScope('library/alpine', ['pull', 'push']),
        error: 'insufficient_scope',
      }),
    ).toBe(
      'Bearer realm="http://r/-/token",service="regctl",scope="repository:library/alpine:pull,push",error="insufficient_scope"',
    );
    expect(formatBearerChallenge({ realm: 'http://r/-/token', service: 'regctl' })).toBe(
      'Bearer realm="http://r/-/token",service="regctl"',
    );
    expect(formatBasicChallenge('my registry')).toBe('Basic realm="my registry",charset="UTF-8"');
  });

  it('escapes quotes and backslashes and drops control characters, so a Host header cannot inject', () => {
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quote('evil\r\nSet-Cookie: x')).toBe('"evilSet-Cookie: x"');
    const header = formatBearerChallenge({
      realm: tokenRealm({ protocol: 'http', host: 'h",error="x' }),
      service: 's',
    });
    expect(header).toBe('Bearer realm="http://h\\",error=\\"x/-/token",service="s"');
  });
});
