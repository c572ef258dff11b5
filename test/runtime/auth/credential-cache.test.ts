import { describe, expect, it } from 'vitest';
import { CredentialCache, settling } from '../../../runtime/auth/credential-cache.ts';

function clock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('CredentialCache', () => {
  it('keys on an HMAC of the parts: no secret in the key, length-prefixed, per instance', () => {
    const a = new CredentialCache<number>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100 });
    const b = new CredentialCache<number>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100 });
    const key = a.keyOf('alice', 'hunter2');
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('hunter2');
    expect(a.keyOf('alice', 'hunter2')).toBe(key);
    expect(a.keyOf('alic', 'ehunter2')).not.toBe(key);
    expect(a.keyOf('alice:', 'hunter2')).not.toBe(a.keyOf('alice', ':hunter2'));
    expect(b.keyOf('alice', 'hunter2')).not.toBe(key);
  });

  it('expires successes after ttlMs and failures after failureTtlMs', () => {
    const time = clock();
    const cache = new CredentialCache<string>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100, now: time.now });
    cache.set('ok', 'yes');
    cache.set('ko', 'no', 'failure');
    time.advance(99);
    expect(cache.get('ko')).toBe('no');
    time.advance(1);
    expect(cache.get('ko')).toBeUndefined();
    expect(cache.get('ok')).toBe('yes');
    time.advance(900);
    expect(cache.get('ok')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new CredentialCache<number>({ maxEntries: 3, ttlMs: 1000, failureTtlMs: 100 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('d', 4);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
  });

  it('gives entries read since they were placed one second chance, however many were read', () => {
    const cache = new CredentialCache<number>({ maxEntries: 3, ttlMs: 1000, failureTtlMs: 100 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    for (const key of ['a', 'b', 'c']) cache.get(key);
    cache.set('d', 4); // every entry was read: one pass clears the flags, then the oldest (a) goes
    expect([cache.size, cache.get('a')]).toEqual([3, undefined]);
    cache.get('b'); // b read again since the pass, d never read
    cache.set('e', 5); // c goes (oldest, not read since the pass), not b
    expect([cache.get('b'), cache.get('c'), cache.get('d'), cache.get('e')]).toEqual([2, undefined, 4, 5]);
  });

  it('replaces an existing key without evicting another', () => {
    const cache = new CredentialCache<number>({ maxEntries: 2, ttlMs: 1000, failureTtlMs: 100 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('a', 10);
    expect([cache.size, cache.get('a'), cache.get('b')]).toEqual([2, 10, 2]);
  });

  it('stays bounded under many distinct credentials', () => {
    const cache = new CredentialCache<number>({ maxEntries: 100, ttlMs: 1000, failureTtlMs: 100 });
    for (let i = 0; i < 10_000; i++) cache.set(cache.keyOf('user', `guess-${i}`), i, 'failure');
    expect(cache.size).toBe(100);
  });

  it('shortens a life with expireWithin, never lengthens it', () => {
    const time = clock();
    const cache = new CredentialCache<string>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100, now: time.now });
    cache.set('k', 'v');
    cache.expireWithin('k', 5000);
    cache.expireWithin('k', 10);
    time.advance(10);
    expect(cache.get('k')).toBeUndefined();
  });

  it('markFailed gives a getOrCreate entry the failure TTL, never a longer life', () => {
    const time = clock();
    const cache = new CredentialCache<string>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100, now: time.now });
    cache.getOrCreate('k', () => 'no');
    cache.markFailed('k');
    time.advance(99);
    expect(cache.get('k')).toBe('no');
    time.advance(1);
    expect(cache.get('k')).toBeUndefined();
    cache.set('short', 'v');
    cache.expireWithin('short', 10);
    cache.markFailed('short');
    time.advance(10);
    expect(cache.get('short')).toBeUndefined();
  });

  it('getOrCreate creates once and then hits', () => {
    const cache = new CredentialCache<Promise<number>>({ maxEntries: 10, ttlMs: 1000, failureTtlMs: 100 });
    let calls = 0;
    const first = cache.getOrCreate('k', () => Promise.resolve(++calls));
    const second = cache.getOrCreate('k', () => Promise.resolve(++calls));
    expect([first.hit, second.hit, calls]).toEqual([false, true, 1]);
    expect(second.value).toBe(first.value);
  });
});

describe('settling', () => {
  it('records a resolved outcome once it settles, and none for a rejection (the caller awaits the promise)', async () => {
    const ok = settling(Promise.resolve('verified'));
    expect(ok.result).toBeUndefined();
    await ok.promise;
    expect(ok.result).toBe('verified');
    const failure = new Error('verifier crashed');
    const broken = settling(Promise.reject(failure));
    await expect(broken.promise).rejects.toBe(failure);
    expect(broken.result).toBeUndefined();
  });
});
