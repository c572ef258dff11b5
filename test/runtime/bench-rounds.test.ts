/**
 * The benchmarks' shared measuring pieces: best-of rounds in alternating order and the throughput
 * row (scripts/bench/lib/rounds.ts), and the idle RSS baseline (scripts/bench/lib/rss.ts).
 */
import { describe, expect, it } from 'vitest';
import { bestOf, type Side, throughputRow } from '../../scripts/bench/lib/rounds.ts';
import { idleRss } from '../../scripts/bench/lib/rss.ts';

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

describe('idleRss', () => {
  it('is a plausible resident size for a live process', async () => {
    const rss = await idleRss(process.pid, 3, 1);
    expect(rss).toBeGreaterThan(1024 * 1024);
  });

  it('is 0 for a process that is gone', async () => {
    expect(await idleRss(2 ** 22 + 1, 2, 1)).toBe(0);
  });
});
