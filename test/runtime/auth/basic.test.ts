import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BasicAuthenticator, parseBasicAuthorization } from '../../../runtime/auth/basic.ts';
import { resolveUsers } from '../../../runtime/auth/users.ts';
import { captureLog } from './fixtures.ts';

vi.mock('bcryptjs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('bcryptjs')>();
  const compare = vi.fn(actual.compare);
  return { ...actual, compare, default: { ...actual.default, compare } };
});
const { compare } = await import('bcryptjs');
afterEach(() => vi.clearAllMocks());

const encode = (value: string) => Buffer.from(value, 'utf8').toString('base64');

describe('parseBasicAuthorization', () => {
  it('decodes user and password, splitting at the first colon, any scheme case, UTF-8', () => {
    expect(parseBasicAuthorization(`Basic ${encode('ci:pa:ss:word')}`)).toEqual({
      username: 'ci',
      password: 'pa:ss:word',
    });
    expect(parseBasicAuthorization(`basic ${encode('ci:')}`)).toEqual({ username: 'ci', password: '' });
    expect(parseBasicAuthorization(`BASIC  ${encode('zoë:mötley')} `)).toEqual({ username: 'zoë', password: 'mötley' });
  });

  it('calls anything undecodable malformed', () => {
    expect(parseBasicAuthorization('Basic')).toBe('malformed');
    expect(parseBasicAuthorization(`Basic ${encode(':nouser')}`)).toBe('malformed');
    expect(parseBasicAuthorization(`Basic ${encode('nocolon')}`)).toBe('malformed');
    expect(parseBasicAuthorization('Basic a b')).toBe('malformed');
  });
});

describe('BasicAuthenticator', () => {
  const hash = bcrypt.hashSync('right', 4);
  const users = resolveUsers([{ name: 'ci', password: { bcrypt: hash }, roles: [], permissions: [] }], {});

  function authenticator() {
    let now = 0;
    const capture = captureLog();
    const basic = new BasicAuthenticator(users, {
      log: capture.log,
      ttlMs: 60_000,
      failureTtlMs: 5_000,
      now: () => now,
    });
    return { basic, advance: (ms: number) => (now += ms), ...capture };
  }

  it('trusts a success for ttlMs, then verifies again', async () => {
    const { basic, advance } = authenticator();
    const credentials = { username: 'ci', password: 'right' };
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    advance(59_999);
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    advance(1);
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    expect(compare).toHaveBeenCalledTimes(2);
  });

  it('remembers a failure for failureTtlMs only', async () => {
    const { basic, advance, lines } = authenticator();
    const credentials = { username: 'ci', password: 'wrong' };
    expect(await basic.verify(credentials, '10.0.0.2')).toEqual({ ok: false, reason: 'wrong password' });
    advance(4_999);
    await basic.verify(credentials, '10.0.0.2');
    expect(compare).toHaveBeenCalledTimes(1);
    advance(1);
    await basic.verify(credentials, '10.0.0.2');
    expect(compare).toHaveBeenCalledTimes(2);
    const entries = lines.map((line) => JSON.parse(line));
    expect(entries.map((entry) => [entry.level, entry.user, entry.ip, entry.cached])).toEqual([
      [40, 'ci', '10.0.0.2', false],
      [20, 'ci', '10.0.0.2', true],
      [40, 'ci', '10.0.0.2', false],
    ]);
  });

  it('spends a bcrypt on unknown users too, so timing does not reveal user names', async () => {
    const { basic } = authenticator();
    expect(await basic.verify({ username: 'ghost', password: 'x' }, '10.0.0.3')).toEqual({
      ok: false,
      reason: 'unknown user',
    });
    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('does not cache an error thrown while verifying', async () => {
    const { basic } = authenticator();
    vi.mocked(compare).mockRejectedValueOnce(new Error('boom'));
    await expect(basic.verify({ username: 'ci', password: 'right' }, '10.0.0.4')).rejects.toThrow('boom');
    expect((await basic.verify({ username: 'ci', password: 'right' }, '10.0.0.4')).ok).toBe(true);
  });
});
