import { describe, expect, it } from 'vitest';
import { ContentCache } from '../../../runtime/repositories/content-cache.ts';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('ContentCache', () => {
  it('returns what was stored and forgets on request', () => {
    const cache = new ContentCache();
    cache.setBody(d(1), Buffer.from('{"a":1}'));
    cache.setSize(d(2), 42);
    expect(cache.body(d(1))?.toString()).toBe('{"a":1}');
    expect(cache.size(d(2))).toBe(42);
    expect(cache.body(d(3))).toBeUndefined();
    cache.forget(d(1));
    cache.forget(d(2));
    expect(cache.body(d(1))).toBeUndefined();
    expect(cache.size(d(2))).toBeUndefined();
  });

  it('bounds bodies by total bytes, evicting the least recently used first', () => {
    const cache = new ContentCache({ bodyBytes: 30 });
    cache.setBody(d(1), Buffer.alloc(10, 1));
    cache.setBody(d(2), Buffer.alloc(10, 2));
    cache.setBody(d(3), Buffer.alloc(10, 3));
    expect(cache.body(d(1))).toBeDefined(); // d(1) is now the most recent
    cache.setBody(d(4), Buffer.alloc(10, 4));
    expect(cache.body(d(2))).toBeUndefined();
    expect(cache.body(d(1))?.[0]).toBe(1);
    expect(cache.body(d(3))?.[0]).toBe(3);
    expect(cache.body(d(4))?.[0]).toBe(4);
    cache.setBody(d(5), Buffer.alloc(31));
    expect(cache.body(d(5))).toBeUndefined();
  });

  it('bounds sizes by entry count', () => {
    const cache = new ContentCache({ sizes: 2 });
    cache.setSize(d(1), 1);
    cache.setSize(d(2), 2);
    cache.setSize(d(3), 3);
    expect(cache.size(d(1))).toBeUndefined();
    expect([cache.size(d(2)), cache.size(d(3))]).toEqual([2, 3]);
  });
});
