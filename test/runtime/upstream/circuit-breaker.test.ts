import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../runtime/upstream/circuit-breaker.ts';
import { ConcurrencyLimit } from '../../../runtime/upstream/concurrency-limit.ts';
import { parseRetryAfter } from '../../../runtime/upstream/errors.ts';

function clocked() {
  const clock = { now: 1_000_000 };
  const breaker = new CircuitBreaker({ baseMs: 1000, capMs: 8000, now: () => clock.now });
  return { clock, breaker };
}

describe('CircuitBreaker', () => {
  it('is closed and admits everything until a failure', () => {
    const { breaker } = clocked();
    expect(breaker.state).toBe('closed');
    expect(breaker.nextRetryAt).toBeNull();
    expect([breaker.admit(), breaker.admit()]).toEqual(['yes', 'yes']);
  });

  it('opens after a failure, then half-opens for one trial after the back-off', () => {
    const { clock, breaker } = clocked();
    breaker.failed();
    expect(breaker.state).toBe('open');
    expect(breaker.nextRetryAt).toBe(clock.now + 1000);
    expect(breaker.admit()).toBe('open');
    clock.now += 999;
    expect(breaker.admit()).toBe('open');
    clock.now += 1;
    expect(breaker.state).toBe('half-open');
    expect(breaker.admit()).toBe('yes');
    // The trial is out: everyone else still skips the endpoint.
    expect(breaker.admit()).toBe('open');
    breaker.succeeded();
    expect(breaker.state).toBe('closed');
    expect(breaker.failures).toBe(0);
    expect(breaker.admit()).toBe('yes');
  });

  it('doubles the back-off on each failed trial, up to the cap, and resets on success', () => {
    const { clock, breaker } = clocked();
    const backoffs: number[] = [];
    for (let i = 0; i < 6; i++) {
      breaker.failed();
      backoffs.push(breaker.nextRetryAt! - clock.now);
      clock.now = breaker.nextRetryAt!;
      expect(breaker.admit()).toBe('yes');
    }
    expect(backoffs).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    breaker.succeeded();
    breaker.failed();
    expect(breaker.nextRetryAt! - clock.now).toBe(1000);
  });

  it('rate-limited: no admission at all until the given time, then a trial; the back-off does not grow', () => {
    const { clock, breaker } = clocked();
    breaker.rateLimitedUntil(clock.now + 5000);
    expect(breaker.state).toBe('rate-limited');
    expect(breaker.admit()).toBe('rate-limited');
    clock.now += 4999;
    expect(breaker.admit()).toBe('rate-limited');
    clock.now += 1;
    expect(breaker.admit()).toBe('yes');
    breaker.failed();
    expect(breaker.state).toBe('open');
    expect(breaker.nextRetryAt! - clock.now).toBe(1000);
  });

  it('a later, shorter Retry-After does not shorten a rate limit in force', () => {
    const { clock, breaker } = clocked();
    breaker.rateLimitedUntil(clock.now + 10_000);
    breaker.rateLimitedUntil(clock.now + 2000);
    expect(breaker.nextRetryAt).toBe(clock.now + 10_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-07T02:00:00Z');
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('5', now)).toBe(5);
    expect(parseRetryAfter(' 120 ', now)).toBe(120);
    expect(parseRetryAfter(['7', '9'], now)).toBe(7);
  });
  it('reads an HTTP date as the seconds until it, rounded up, never negative', () => {
    expect(parseRetryAfter('Mon, 07 Dec 2026 02:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Mon, 07 Dec 2026 02:00:30 GMT', now + 500)).toBe(30);
    expect(parseRetryAfter('Mon, 07 Dec 2026 01:59:00 GMT', now)).toBe(0);
  });
  it('ignores what is neither', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('ConcurrencyLimit', () => {
  it('holds later callers until a slot is released, in arrival order, never refusing', async () => {
    const limit = new ConcurrencyLimit(2);
    const a = await limit.acquire();
    const b = await limit.acquire();
    const order: string[] = [];
    const c = limit.acquire().then((release) => {
      order.push('c');
      return release;
    });
    const d = limit.acquire().then((release) => {
      order.push('d');
      return release;
    });
    await Promise.resolve();
    expect([limit.active, limit.queued, order]).toEqual([2, 2, []]);
    a();
    a(); // a second release of the same slot is ignored
    const releaseC = await c;
    expect([limit.active, limit.queued, order]).toEqual([2, 1, ['c']]);
    b();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    releaseC();
    releaseD();
    expect([limit.active, limit.queued]).toEqual([0, 0]);
  });

  it('without a maximum only counts', async () => {
    const limit = new ConcurrencyLimit();
    const releases = await Promise.all(Array.from({ length: 100 }, () => limit.acquire()));
    expect(limit.active).toBe(100);
    for (const release of releases) release();
    expect(limit.active).toBe(0);
  });
});
