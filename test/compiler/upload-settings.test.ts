/**
 * `uploadTimeout` (top level, and per blob store) and `maxUploadBytes` (per blob store): how they
 * compile into each store's `uploads`, how a change shows in the plan diff, and the diagnostics for
 * values that cannot work.
 */
import { describe, expect, it } from 'vitest';
import { checkConfig, compilePlan, diffPlans, formatPlanDiff, type Plan } from '../../compiler/index.ts';
import type { ConfigInput } from '../../schema/index.ts';

function compile(input: ConfigInput): Plan {
  const checked = checkConfig(input);
  if (checked.config === null) throw new Error(JSON.stringify(checked.diagnostics));
  return compilePlan(checked.config, { configDir: '/srv' });
}

const stores = (overrides: Record<string, unknown>[] = [{}, {}]): ConfigInput['blobStores'] => [
  { name: 'default', type: 'file', path: 'data', ...overrides[0] },
  {
    name: 'bucket',
    type: 's3',
    bucket: 'b',
    endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
    ...overrides[1],
  } as NonNullable<ConfigInput['blobStores']>[number],
];

describe('upload settings in the plan', () => {
  it('gives every store the 1h default and no cap', () => {
    const plan = compile({ blobStores: stores() });
    expect(plan.blobStores.default?.uploads).toEqual({ timeoutMs: 3_600_000, maxBytes: null });
    expect(plan.blobStores.bucket?.uploads).toEqual({ timeoutMs: 3_600_000, maxBytes: null });
  });

  it('takes the top-level uploadTimeout as every store default, a store its own over it', () => {
    const plan = compile({
      uploadTimeout: '30m',
      blobStores: stores([{ maxUploadBytes: '20GiB' }, { uploadTimeout: 90, maxUploadBytes: 1000 }]),
    });
    expect(plan.blobStores.default?.uploads).toEqual({ timeoutMs: 1_800_000, maxBytes: 20 * 1024 ** 3 });
    expect(plan.blobStores.bucket?.uploads).toEqual({ timeoutMs: 90_000, maxBytes: 1000 });
  });

  it('shows a change of either in the plan diff, on the stores it changes', () => {
    const before = compile({ blobStores: stores([{}, { uploadTimeout: '2h' }]) });
    const after = compile({
      uploadTimeout: '6h',
      blobStores: stores([{ maxUploadBytes: '1GiB' }, { uploadTimeout: '2h' }]),
    });
    const diff = diffPlans(before, after);
    expect(diff.blobStores.changed).toEqual([
      {
        name: 'default',
        changes: [
          { field: 'uploads.maxBytes', before: null, after: 1024 ** 3 },
          { field: 'uploads.timeoutMs', before: 3_600_000, after: 21_600_000 },
        ],
      },
    ]);
    expect(formatPlanDiff(diff)).toContain('~ blob store default\n    uploads.maxBytes: null → 1073741824');
  });
});

describe('upload settings diagnostics', () => {
  /** The errors only: a config without listeners also gets a warning about that. */
  const diagnosticsOf = (input: unknown) =>
    checkConfig(input)
      .diagnostics.filter((d) => d.severity === 'error')
      .map(({ path, message, hint }) => ({ path, message, hint }));

  it.each([
    [0, 'must be longer than 0'],
    ['0s', 'must be longer than 0'],
    [-5, 'must be longer than 0'],
  ])('uploadTimeout %j is refused with a hint', (value, message) => {
    expect(diagnosticsOf({ uploadTimeout: value })).toEqual([
      {
        path: ['uploadTimeout'],
        message,
        hint: "give a duration longer than 0, such as '1h' (the default) or '6h' for very slow links",
      },
    ]);
  });

  it('names the store field of an unparsable uploadTimeout, with how to write one', () => {
    expect(diagnosticsOf({ blobStores: stores([{}, { uploadTimeout: '1 hour' }]) })).toEqual([
      {
        path: ['blobStores', 1, 'uploadTimeout'],
        message: 'expected a duration such as "30s", "15m", "24h" or "7d"',
        hint: "write a number and a unit (ms, s, m, h, d), e.g. '90s', '30m', '1h', or a number of seconds",
      },
    ]);
  });

  it.each([0, '0GiB'])('maxUploadBytes %j is refused, the hint says how to have no cap', (value) => {
    expect(diagnosticsOf({ blobStores: stores([{ maxUploadBytes: value }, {}]) })).toEqual([
      {
        path: ['blobStores', 0, 'maxUploadBytes'],
        message: 'must be more than 0 bytes',
        hint: "give a size such as '20GiB', or leave maxUploadBytes out for no cap",
      },
    ]);
  });

  it('an unparsable maxUploadBytes says how to write a size', () => {
    expect(diagnosticsOf({ blobStores: stores([{}, { maxUploadBytes: '20 gigs' }]) })).toEqual([
      {
        path: ['blobStores', 1, 'maxUploadBytes'],
        message: 'expected a size such as "16MiB" or "5MB"',
        hint: "write a number and a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. '512MiB', '20GiB', or a number of bytes",
      },
    ]);
  });

  it('an unparsable reload.timeout is a diagnostic too, not a crash of the check', () => {
    expect(diagnosticsOf({ reload: { timeout: '10 seconds' } })).toEqual([
      {
        path: ['reload', 'timeout'],
        message: 'expected a duration such as "30s", "15m", "24h" or "7d"',
        hint: "write a number and a unit (ms, s, m, h, d), e.g. '90s', '30m', '1h', or a number of seconds",
      },
    ]);
  });
});
