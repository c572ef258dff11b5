import { hashSync } from '@node-rs/bcrypt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BasicAuthenticator, parseBasicAuthorization } from '../../../runtime/auth/basic.ts';
import { resolveUsers } from '../../../runtime/auth/users.ts';
import { captureLog } from './fixtures.ts';

vi.mock('@node-rs/bcrypt', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@node-rs/bcrypt')>();
  return { ...actual, verify: vi.fn(actual.verify) };
});
const { verify } = await import('@node-rs/bcrypt');
afterEach(() => vi.clearAllMocks());

const encode = (value: string) => Buffer.from(value, 'utf8').toString('base64');
/** The base64 credentials a client sends after `Basic `. */
const pair = (username: string, password: string) => encode(`${username}:${password}`);

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
  const hash = hashSync('right', 4);
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
    const credentials = pair('ci', 'right');
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    advance(59_999);
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    expect(verify).toHaveBeenCalledTimes(1);
    advance(1);
    expect((await basic.verify(credentials, '10.0.0.1')).ok).toBe(true);
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('remembers a failure for failureTtlMs only', async () => {
    const { basic, advance, lines } = authenticator();
    const credentials = pair('ci', 'wrong');
    expect(await basic.verify(credentials, '10.0.0.2')).toEqual({ ok: false, reason: 'wrong password' });
    advance(4_999);
    await basic.verify(credentials, '10.0.0.2');
    expect(verify).toHaveBeenCalledTimes(1);
    advance(1);
    await basic.verify(credentials, '10.0.0.2');
    expect(verify).toHaveBeenCalledTimes(2);
    const entries = lines.map((line) => JSON.parse(line));
    expect(entries.map((entry) => [entry.level, entry.user, entry.ip, entry.cached])).toEqual([
      [40, 'ci', '10.0.0.2', false],
      [20, 'ci', '10.0.0.2', true],
      [40, 'ci', '10.0.0.2', false],
    ]);
  });

  it('spends a bcrypt on unknown users too, so timing does not reveal user names', async () => {
    const { basic } = authenticator();
    expect(await basic.verify(pair('ghost', 'x'), '10.0.0.3')).toEqual({
      ok: false,
      reason: 'unknown user',
    });
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('answers a concluded check synchronously with verifyCached, and nothing before or after it', async () => {
    const { basic, advance, lines } = authenticator();
    const right = pair('ci', 'right');
    expect(basic.verifyCached(right, '10.0.0.5')).toBeUndefined();
    const pending = basic.verify(right, '10.0.0.5');
    expect(basic.verifyCached(right, '10.0.0.5')).toBeUndefined(); // bcrypt still running
    expect((await pending).ok).toBe(true);
    expect(basic.verifyCached(right, '10.0.0.5')).toMatchObject({ ok: true, user: { name: 'ci' } });
    expect(basic.verifyCached(pair('ci', 'other'), '10.0.0.5')).toBeUndefined();
    advance(60_000);
    expect(basic.verifyCached(right, '10.0.0.5')).toBeUndefined();

    const wrong = pair('ci', 'wrong');
    await basic.verify(wrong, '10.0.0.6');
    expect(basic.verifyCached(wrong, '10.0.0.6')).toEqual({ ok: false, reason: 'wrong password' });
    expect(verify).toHaveBeenCalledTimes(2);
    const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.user === 'ci');
    expect(failures.map((entry) => [entry.level, entry.ip, entry.cached])).toEqual([
      [40, '10.0.0.6', false],
      [20, '10.0.0.6', true],
    ]);
  });

  it('refuses a wrong password after a cached good one, and keeps the good one cached', async () => {
    const { basic } = authenticator();
    expect((await basic.verify(pair('ci', 'right'), '10.0.0.7')).ok).toBe(true);
    expect(await basic.verify(pair('ci', 'wrong'), '10.0.0.7')).toEqual({ ok: false, reason: 'wrong password' });
    expect(basic.verifyCached(pair('ci', 'right'), '10.0.0.7')).toMatchObject({ ok: true });
    expect(basic.verifyCached(pair('ci', 'wrong'), '10.0.0.7')).toMatchObject({ ok: false });
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('refuses credentials that do not decode without caching them, logging each attempt', async () => {
    const { basic, lines } = authenticator();
    for (const encoded of [encode('nocolon'), encode(':nouser'), 'a b']) {
      expect(await basic.verify(encoded, '10.0.0.8')).toEqual({ ok: false, reason: 'malformed Basic credentials' });
      expect(basic.verifyCached(encoded, '10.0.0.8')).toBeUndefined();
    }
    expect(verify).not.toHaveBeenCalled();
    const entries = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'authentication failed');
    expect(entries.map((entry) => [entry.level, entry.reason, entry.user])).toEqual(
      Array(3).fill([40, 'malformed Basic credentials', undefined]),
    );
  });

  it('does not cache an error thrown while verifying', async () => {
    const { basic } = authenticator();
    vi.mocked(verify).mockRejectedValueOnce(new Error('boom'));
    await expect(basic.verify(pair('ci', 'right'), '10.0.0.4')).rejects.toThrow('boom');
    expect((await basic.verify(pair('ci', 'right'), '10.0.0.4')).ok).toBe(true);
  });
});
