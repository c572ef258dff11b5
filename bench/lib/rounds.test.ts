/**
 * The benchmarks' shared measuring pieces: best-of rounds in alternating order, the throughput
 * row, medians of paired rounds (bench/lib/rounds.ts), and the idle RSS baseline
 * (bench/lib/rss.ts).
 */
import { describe, expect, it } from 'vitest';
import { bestOf, median, pairedRatio, type Side, throughputRow } from './rounds.ts';
import { idleRss } from './rss.ts';

describe('bestOf', () => {
  it('runs both sides each round, distribution first in even rounds, and keeps the best of each', async () => {
    const calls: string[] = [];
    const figures: Record<Side, number[]> = { regctl: [3, 5, 4], distribution: [2, 1, 6] };
    const best = await bestOf(async (side, round) => {
      calls.push(`${round}:${side}`);
      return figures[side][round]!;
    }, 3);
    expect(calls).toEqual(['0:distribution', '0:regctl', '1:regctl', '1:distribution', '2:distribution', '2:regctl']);
    expect(best).toEqual({ regctl: 5, distribution: 6 });
  });

  it('runs two rounds by default', async () => {
    let calls = 0;
    await bestOf(async () => ++calls);
    expect(calls).toBe(4);
  });
});

describe('throughputRow', () => {
  it('passes at ratio ≥ min and writes the target with one decimal', () => {
    expect(throughputRow('pull', 120, 100, 1.2)).toEqual({
      metric: 'pull',
      unit: 'MiB/s',
      regctl: 120,
      baseline: 100,
      ratio: 1.2,
      target: '≥ 1.2×',
      pass: true,
    });
    expect(throughputRow('pull', 99, 100, 1).pass).toBe(false);
    expect(throughputRow('pull', 99, 100, 1).target).toBe('≥ 1.0×');
  });
});

describe('median and pairedRatio', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('pairs figures by round, so a slow round weighs on both sides alike', () => {
    // Round 2 ran on a busy machine: both figures fell, their ratio did not.
    const authenticated = [95, 96, 48, 94, 97];
    const anonymous = [100, 100, 50, 100, 100];
    expect(pairedRatio(authenticated, anonymous)).toBeCloseTo(0.96, 10);
    // Best of each side would have compared the luckiest runs of each instead.
    expect(Math.max(...authenticated) / Math.max(...anonymous)).toBeCloseTo(0.97, 10);
  });

  it('skips rounds without a usable figure on either side', () => {
    expect(pairedRatio([1, Number.NaN, 3, 8], [2, 5, 0, 8])).toBe(0.75);
    expect(pairedRatio([1], [])).toBeNaN();
  });
});

describe('idleRss', () => {
  it('is a plausible resident size for a live process', async () => {
    const rss = await idleRss(process.pid, 3, 1);
    expect(rss).toBeGreaterThan(1024 * 1024);
  });

  it('is 0 for a process that is gone', async () => {
    expect(await idleRss(2 ** 22 + 1, 2, 1)).toBe(0);
  });
});
