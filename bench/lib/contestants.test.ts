import { describe, expect, it } from 'vitest';
import { formatSpread, parsePick, rotation, spreadOf } from './contestants.ts';

describe('contestant rounds', () => {
  it('rotates the order by one each round, so each goes first once per cycle', () => {
    const names = ['direct', 'regctl', 'distribution'];
    expect(rotation(names, 0)).toEqual(['direct', 'regctl', 'distribution']);
    expect(rotation(names, 1)).toEqual(['regctl', 'distribution', 'direct']);
    expect(rotation(names, 2)).toEqual(['distribution', 'direct', 'regctl']);
    expect(rotation(names, 3)).toEqual(names);
    expect(rotation([], 5)).toEqual([]);
  });

  it('sums samples up as median, min and max', () => {
    expect(spreadOf([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, count: 3 });
    expect(spreadOf([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4, count: 4 });
    expect(spreadOf([]).count).toBe(0);
    expect(formatSpread({ median: 1234.4, min: 1100, max: 1300.6, count: 3 })).toBe('1 234 ms (1 100–1 301)');
  });

  it('parses a pick of known names, in their own order, and names the unknown ones', () => {
    const known = ['direct', 'regctl', 'distribution'] as const;
    expect(parsePick(undefined, known)).toEqual(['direct', 'regctl', 'distribution']);
    expect(parsePick('distribution, direct', known)).toEqual(['direct', 'distribution']);
    expect(() => parsePick('direct,nope', known)).toThrow(/unknown: nope/);
    expect(() => parsePick(' , ', known)).toThrow(/at least one/);
  });
});
