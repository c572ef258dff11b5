import { describe, expect, it } from 'vitest';
import { type CleanupRule, selectTagRemovals, type TagFacts } from '../../../runtime/gc/cleanup.ts';

const DAY = 86_400_000;
const NOW = 1_000 * DAY;

/** Tags pushed `ageDays` ago (and pulled `pulledDaysAgo` ago when given). */
function tag(name: string, ageDays: number, pulledDaysAgo?: number): TagFacts {
  return {
    tag: name,
    digest: `sha256:${name
      .padEnd(64, '0')
      .slice(0, 64)
      .replace(/[^0-9a-f]/g, 'a')}`,
    pushedAt: NOW - ageDays * DAY,
    ...(pulledDaysAgo === undefined ? {} : { pulledAt: NOW - pulledDaysAgo * DAY }),
  };
}

const removed = (rules: CleanupRule[], tags: TagFacts[]) => selectTagRemovals(rules, tags, NOW).map((r) => r.tag);

describe('cleanup rules', () => {
  it('keep N of a pattern deletes the older matching tags only', () => {
    const tags = [
      tag('nightly-1', 5),
      tag('nightly-2', 4),
      tag('nightly-3', 3),
      tag('nightly-4', 2),
      tag('nightly-5', 1),
      tag('v1.0', 10),
    ];
    expect(removed([{ tags: '^nightly-', keep: 3 }], tags)).toEqual(['nightly-1', 'nightly-2']);
  });

  it('notPulledFor counts from the last pull, or from the push when never pulled', () => {
    const tags = [tag('pulled-recently', 100, 2), tag('pulled-long-ago', 100, 40), tag('never', 31), tag('new', 3)];
    expect(removed([{ notPulledForMs: 30 * DAY }], tags)).toEqual(['never', 'pulled-long-ago']);
  });

  it('olderThan with protect spares protected tags; keep never goes below N', () => {
    const tags = [tag('v1', 200), tag('v2', 150), tag('build-7', 120), tag('build-8', 100), tag('build-9', 1)];
    expect(removed([{ olderThanMs: 90 * DAY, protect: '^v\\d+' }], tags)).toEqual(['build-7', 'build-8']);
    expect(removed([{ olderThanMs: 90 * DAY, keep: 4 }], tags)).toEqual(['v1']);
  });

  it('a tag deleted by several rules is listed once, with the first rule that deletes it', () => {
    const tags = [tag('old', 400), tag('nightly-1', 400), tag('nightly-2', 1)];
    const out = selectTagRemovals([{ tags: '^nightly-', keep: 1 }, { olderThanMs: 90 * DAY }], tags, NOW);
    expect(out.map((r) => [r.tag, r.rule])).toEqual([
      ['nightly-1', 0],
      ['old', 1],
    ]);
    expect(out[0]?.reason).toBe('cleanup[0]: not among the 1 newest tags matching ^nightly-');
    expect(out[1]?.reason).toBe('cleanup[1]: pushed 400d ago (olderThan 90d)');
  });

  it('both conditions of one rule must hold', () => {
    const tags = [tag('old-pulled', 100, 1), tag('old-idle', 100, 60), tag('young-idle', 10, 60)];
    expect(removed([{ olderThanMs: 90 * DAY, notPulledForMs: 30 * DAY }], tags)).toEqual(['old-idle']);
  });
});
