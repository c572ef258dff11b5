import { describe, expect, it } from 'vitest';
import type { LoginThrottlePlan } from '../../../compiler/plan.ts';
import { addressKey, type LoginAttempt, LoginThrottle } from '../../../runtime/auth/login-throttle.ts';

const PLAN: LoginThrottlePlan = {
  enabled: true,
  perAddress: { burst: 6, perMinute: 6 },
  perUser: { burst: 3, perMinute: 6 },
  maxBackoffMs: 80_000,
  maxTracked: 100,
};

function throttle(plan: Partial<LoginThrottlePlan> = {}) {
  let now = 1_000_000;
  const instance = new LoginThrottle({ ...PLAN, ...plan }, () => now);
  return { throttle: instance, advance: (ms: number) => (now += ms) };
}

/** Admits and finishes one check as `outcome`; false when refused. */
function attempt(t: LoginThrottle, ip: string, name: string, outcome: 'success' | 'failure'): boolean {
  const admission = t.admit(ip, name);
  if (!admission.ok) return false;
  admission.finish(outcome);
  return true;
}

function refusal(t: LoginThrottle, ip: string, name: string): number {
  const admission = t.admit(ip, name);
  if (admission.ok) throw new Error(`${name} from ${ip} was admitted`);
  return admission.retryAfterMs;
}

describe('LoginThrottle', () => {
  it('lets a name fail `burst` times, then refuses until a token has refilled', () => {
    const { throttle: t, advance } = throttle();
    for (let i = 0; i < 3; i++) expect(attempt(t, '10.0.0.1', 'ci', 'failure')).toBe(true);
    // The third failure emptied the bucket: one strike, so the next token takes 2 × 10 s.
    expect(refusal(t, '10.0.0.1', 'ci')).toBe(20_000);
    advance(19_999);
    expect(refusal(t, '10.0.0.1', 'ci')).toBe(1);
    advance(1);
    expect(attempt(t, '10.0.0.1', 'ci', 'failure')).toBe(true);
  });

  it('never counts successes: a user logging in often is never throttled', () => {
    const { throttle: t } = throttle();
    for (let i = 0; i < 50; i++) expect(attempt(t, '10.0.0.1', 'ci', 'success')).toBe(true);
    for (let i = 0; i < 50; i++) {
      const admission = t.admit('10.0.0.9', 'other');
      expect(admission.ok).toBe(true);
      (admission as LoginAttempt).finish('not checked');
    }
  });

  it('doubles the refill interval for each failure that empties the bucket, up to maxBackoff, and forgets once full', () => {
    const { throttle: t, advance } = throttle();
    for (let i = 0; i < 3; i++) attempt(t, '10.0.0.1', 'ci', 'failure');
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const wait = refusal(t, '10.0.0.1', 'ci');
      waits.push(wait);
      advance(wait);
      expect(attempt(t, '10.0.0.1', 'ci', 'failure')).toBe(true);
    }
    expect(waits).toEqual([20_000, 40_000, 80_000, 80_000, 80_000]);
    // Quiet long enough to refill all three tokens at the capped interval: back to the base rate.
    advance(3 * 80_000);
    for (let i = 0; i < 3; i++) expect(attempt(t, '10.0.0.1', 'ci', 'failure')).toBe(true);
    expect(refusal(t, '10.0.0.1', 'ci')).toBe(20_000);
  });

  it('throttles one name tried from many addresses, and not the other names of those addresses', () => {
    const { throttle: t } = throttle();
    for (let i = 0; i < 3; i++) expect(attempt(t, `10.0.1.${i}`, 'admin', 'failure')).toBe(true);
    expect(t.admit('10.0.1.99', 'admin').ok).toBe(false);
    expect(attempt(t, '10.0.1.0', 'ci', 'failure')).toBe(true);
  });

  it('throttles one address trying many names, unknown or not, and not other addresses', () => {
    const { throttle: t } = throttle();
    for (let i = 0; i < 6; i++) expect(attempt(t, '10.0.2.1', `guess-${i}`, 'failure')).toBe(true);
    expect(t.admit('10.0.2.1', 'ci').ok).toBe(false);
    expect(t.admit('10.0.2.1', 'never-tried').ok).toBe(false);
    expect(attempt(t, '10.0.2.2', 'ci', 'success')).toBe(true);
  });

  it('takes the tokens when a check starts, so concurrent guesses cannot overtake the count', () => {
    const { throttle: t } = throttle();
    const admitted = [1, 2, 3].map(() => t.admit('10.0.3.1', 'ci'));
    expect(admitted.every((admission) => admission.ok)).toBe(true);
    expect(t.admit('10.0.3.1', 'ci').ok).toBe(false);
    // A check that did not run (busy, an error) and a success give their token back.
    (admitted[0] as LoginAttempt).finish('not checked');
    (admitted[1] as LoginAttempt).finish('success');
    (admitted[1] as LoginAttempt).finish('failure'); // a second report is ignored
    expect(t.admit('10.0.3.1', 'ci').ok).toBe(true);
  });

  it('lets a user in from an address where it succeeded before, even while its name is throttled', () => {
    const { throttle: t } = throttle();
    expect(attempt(t, '10.0.4.1', 'ci', 'success')).toBe(true);
    for (let i = 0; i < 3; i++) attempt(t, `10.0.5.${i}`, 'ci', 'failure');
    expect(t.admit('10.0.5.9', 'ci').ok).toBe(false);
    const trusted = t.admit('10.0.4.1', 'ci');
    expect(trusted).toMatchObject({ ok: true, trusted: true });
    (trusted as LoginAttempt).finish('success');
    // The trusted pair's own failures count: `perUser.burst` in a row end the trust.
    for (let i = 0; i < 3; i++) expect(attempt(t, '10.0.4.1', 'ci', 'failure')).toBe(true);
    expect(t.admit('10.0.4.1', 'ci').ok).toBe(false);
  });

  it('keeps at most maxTracked entries per table, however many names and addresses are tried', () => {
    const { throttle: t } = throttle();
    for (let i = 0; i < 1_000; i++) attempt(t, `10.1.${i >> 8}.${i & 255}`, `name-${i}`, i % 2 ? 'failure' : 'success');
    const size = t.size;
    expect(size.addresses).toBeLessThanOrEqual(100);
    expect(size.names).toBeLessThanOrEqual(100);
    expect(size.trusted).toBeLessThanOrEqual(100);
  });

  it('drops buckets that have refilled and trust that has lapsed', () => {
    const { throttle: t, advance } = throttle();
    for (let i = 0; i < 20; i++) attempt(t, `10.2.0.${i}`, `name-${i}`, 'failure');
    attempt(t, '10.2.1.1', 'ci', 'success');
    advance(25 * 60 * 60_000);
    for (let i = 0; i < 20; i++) attempt(t, '10.2.9.9', 'ci', 'success');
    // Only the new trust is left: every bucket is full again (the same as none), the old trust lapsed.
    expect(t.size).toEqual({ addresses: 0, names: 0, trusted: 1 });
  });
});

describe('addressKey', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64 prefix', () => {
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('')).toBe('');
  });
});
