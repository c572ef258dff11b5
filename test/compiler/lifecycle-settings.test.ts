/**
 * The storage-lifecycle fields (`gc`, `cleanup`, `quota`, `maxSize`): what they compile to, that a
 * config without them keeps its plan (and id), and the diagnostics for values that cannot work,
 * each at its exact path.
 */
import { describe, expect, it } from 'vitest';
import { compileChecked as compile, configErrors } from '../helpers/checked-config.ts';

/** The errors only, with path and message. */
const errorsOf = (input: unknown) => configErrors(input).map(({ path, message }) => ({ path, message }));

const proxy = { name: 'hub', type: 'proxy', remote: { url: 'https://registry-1.docker.io' } } as const;

describe('storage lifecycle in the plan', () => {
  it('compiles gc, cleanup rules, quota and maxSize to milliseconds and bytes', () => {
    const plan = compile({
      gc: { interval: '24h', gracePeriod: '2h', settle: '30s' },
      repositories: [
        {
          name: 'private',
          type: 'hosted',
          quota: '10GiB',
          cleanup: [{ tags: '^nightly-', keep: 3 }, { notPulledFor: '30d' }, { olderThan: '90d', protect: '^v\\d+' }],
        },
        { ...proxy, maxSize: '50GiB' },
      ],
    });
    expect(plan.gc).toEqual({ intervalMs: 86_400_000, gracePeriodMs: 7_200_000, settleMs: 30_000 });
    const hosted = plan.repositories.private;
    expect(hosted?.type === 'hosted' && hosted.quotaBytes).toBe(10 * 1024 ** 3);
    expect(hosted?.type === 'hosted' && hosted.cleanup).toEqual([
      { tags: '^nightly-', keep: 3 },
      { notPulledForMs: 30 * 86_400_000 },
      { olderThanMs: 90 * 86_400_000, protect: '^v\\d+' },
    ]);
    const hub = plan.repositories.hub;
    expect(hub?.type === 'proxy' && hub.maxSizeBytes).toBe(50 * 1024 ** 3);
  });

  it('a config without them compiles to a plan without their fields', () => {
    const plain = compile({ repositories: [{ name: 'private', type: 'hosted' }, proxy] });
    expect(plain.gc).toBeUndefined();
    expect('quotaBytes' in (plain.repositories.private ?? {})).toBe(false);
    expect('maxSizeBytes' in (plain.repositories.hub ?? {})).toBe(false);
    // gc with only a grace period: no schedule
    expect(compile({ gc: {} }).gc).toEqual({ intervalMs: 0, gracePeriodMs: 3_600_000 });
  });
});

describe('storage lifecycle diagnostics', () => {
  it('a cleanup rule with nothing that limits it is refused (it would delete every selected tag)', () => {
    expect(errorsOf({ repositories: [{ name: 'private', type: 'hosted', cleanup: [{ tags: '^x' }] }] })).toEqual([
      {
        path: ['repositories', 0, 'cleanup', 0],
        message:
          'a cleanup rule needs keep, olderThan or notPulledFor (a rule with none would delete every selected tag); add one of them',
      },
    ]);
  });

  it('names an invalid pattern and a zero duration at their fields', () => {
    const errors = errorsOf({
      repositories: [
        {
          name: 'private',
          type: 'hosted',
          cleanup: [
            { tags: '(', keep: 1 },
            { protect: '[', olderThan: 0 },
          ],
        },
      ],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: ['repositories', 0, 'cleanup', 0, 'tags'], message: 'is not a valid regular expression' },
        { path: ['repositories', 0, 'cleanup', 1, 'protect'], message: 'is not a valid regular expression' },
        { path: ['repositories', 0, 'cleanup', 1, 'olderThan'], message: 'must be longer than 0 (for example "30d")' },
      ]),
    );
  });

  it('a zero quota or maxSize is refused, a negative keep too', () => {
    const errors = errorsOf({
      repositories: [
        { name: 'private', type: 'hosted', quota: 0, cleanup: [{ keep: -1 }] },
        { ...proxy, maxSize: 0 },
      ],
    });
    const paths = errors.map((e) => e.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['repositories.0.quota', 'repositories.1.maxSize', 'repositories.0.cleanup.0.keep']),
    );
    expect(errors.find((e) => e.path.join('.') === 'repositories.0.quota')?.message).toBe(
      'must be larger than 0 (for example "10GiB")',
    );
  });
});
