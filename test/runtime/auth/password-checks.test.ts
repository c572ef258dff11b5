import { hashSync } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import { defaultCheckConcurrency, PasswordChecks } from '../../../runtime/auth/password-checks.ts';

/** A verify whose calls wait until released one by one, recording the order they started in. */
function gatedVerify() {
  const started: string[] = [];
  const gates: (() => void)[] = [];
  const verify = (password: string) =>
    new Promise<boolean>((resolve) => {
      started.push(password);
      gates.push(() => resolve(password === 'right'));
    });
  const releaseOne = async () => {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { verify, started, releaseOne };
}

describe('PasswordChecks', () => {
  it('runs at most `concurrency` checks, queues up to maxQueued more and refuses the rest as busy', async () => {
    const gated = gatedVerify();
    const checks = new PasswordChecks({ concurrency: 2, maxQueued: 2, verify: gated.verify });
    const outcomes = ['right', 'a', 'b', 'c', 'd'].map((password) => checks.verify(password, 'hash'));
    expect(await outcomes[4]).toBe('busy');
    expect(gated.started).toEqual(['right', 'a']);
    expect([checks.running, checks.queued]).toEqual([2, 2]);
    await gated.releaseOne();
    expect(await outcomes[0]).toBe(true);
    expect(gated.started).toEqual(['right', 'a', 'b']);
    for (let i = 0; i < 3; i++) await gated.releaseOne();
    expect(await Promise.all(outcomes.slice(1, 4))).toEqual([false, false, false]);
    expect([checks.running, checks.queued]).toEqual([0, 0]);
  });

  it('serves the trusted lane first, and a full ordinary lane does not refuse a trusted check', async () => {
    const gated = gatedVerify();
    const checks = new PasswordChecks({ concurrency: 1, maxQueued: 1, verify: gated.verify });
    const first = checks.verify('x', 'hash');
    const ordinary = checks.verify('y', 'hash');
    expect(await checks.verify('z', 'hash')).toBe('busy');
    const trusted = checks.verify('right', 'hash', true);
    await gated.releaseOne();
    expect(gated.started).toEqual(['x', 'right']);
    await gated.releaseOne();
    await gated.releaseOne();
    expect(await Promise.all([first, trusted, ordinary])).toEqual([false, true, false]);
  });

  it('frees the slot when a verification throws', async () => {
    let calls = 0;
    const checks = new PasswordChecks({
      concurrency: 1,
      verify: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return true;
      },
    });
    await expect(checks.verify('p', 'h')).rejects.toThrow('boom');
    expect(await checks.verify('p', 'h')).toBe(true);
    expect(checks.running).toBe(0);
  });

  it('verifies real bcrypt hashes ($2a$, $2b$, $2y$) off the event loop', async () => {
    const hash = hashSync('right', 12);
    const checks = new PasswordChecks({ concurrency: 2 });
    // Timers keep firing while two cost-12 verifications (each hundreds of ms of CPU) run: the
    // work is on libuv's pool. bcrypt on the event loop would stall them for the whole time.
    let last = performance.now();
    let worstGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    const outcomes = await Promise.all([
      checks.verify('right', hash),
      checks.verify('wrong', hash.replace(/^\$2b\$/, '$2y$')),
    ]);
    const elapsed = performance.now() - started;
    clearInterval(ticker);
    expect(outcomes).toEqual([true, false]);
    expect(elapsed).toBeGreaterThan(100);
    expect(worstGap).toBeLessThan(elapsed / 3);
    expect(await checks.verify('right', hash.replace(/^\$2b\$/, '$2a$'))).toBe(true);
  });

  it('leaves libuv two of its threads and the event loop a core by default', () => {
    expect(defaultCheckConcurrency({})).toBeGreaterThanOrEqual(1);
    expect(defaultCheckConcurrency({})).toBeLessThanOrEqual(2);
    expect(defaultCheckConcurrency({ UV_THREADPOOL_SIZE: '2' })).toBe(1);
    expect(defaultCheckConcurrency({ UV_THREADPOOL_SIZE: 'many' })).toBe(defaultCheckConcurrency({}));
  });
});
