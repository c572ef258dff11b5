/**
 * Golden tests: each folder of test/golden holds a config and either the expected plan
 * (`plan.json`, for valid configs) or the expected diagnostics (`diagnostics.txt`, for invalid
 * ones). Relative paths compile against `/golden/<case>` so plans (and ids) do not depend on
 * where the repository is checked out. Run with UPDATE_GOLDEN=1 to
 * rewrite the expectations after an intended change, format them (`npx biome format --write
 * test/golden`) and review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan, formatDiagnostics } from '../../compiler/index.ts';

const goldenDir = join(import.meta.dirname, '..', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'plan-diff') // plan-diff-golden.test.ts
  .map((d) => d.name);

function configOf(dir: string): string {
  const name = readdirSync(dir).find((f) => f.startsWith('registry.config.'));
  if (!name) throw new Error(`no config in ${dir}`);
  return join(dir, name);
}

describe('golden', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(5));

  it.each(cases)('%s', async (name) => {
    const dir = join(goldenDir, name);
    // A fixed base folder keeps absolute paths, and so the plan id, independent of the checkout.
    const result = await buildPlan({ configPath: configOf(dir), baseDir: `/golden/${name}` });
    const [file, actual] = result.ok
      ? ['plan.json', `${JSON.stringify(result.plan, null, 2)}\n`]
      : ['diagnostics.txt', `${formatDiagnostics(result.diagnostics, 'text', dir)}\n`];
    const expectedPath = join(dir, file);
    if (update) writeFileSync(expectedPath, actual);
    expect(existsSync(expectedPath), `${expectedPath} missing: run with UPDATE_GOLDEN=1`).toBe(true);
    const expected = readFileSync(expectedPath, 'utf8');
    // plan.json is compared as data: the repository's formatter may re-wrap it.
    if (file === 'plan.json') expect(JSON.parse(actual)).toEqual(JSON.parse(expected));
    else expect(actual).toBe(expected);
  });
});
