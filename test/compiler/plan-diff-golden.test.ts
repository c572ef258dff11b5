/**
 * Golden tests of `regctl plan --diff` for reviewers: each folder of test/golden/plan-diff holds a
 * base and a changed config and the expected output as text (`diff.txt`), coloured text
 * (`diff.color.txt`, what a terminal gets) and Markdown (`diff.md`, the pull-request comment). The
 * same pieces as the CLI: diffPlans, the reload's warnings, formatPlanDiff; the CLI's own output
 * is checked against diff.md once. Run with UPDATE_GOLDEN=1 to rewrite them, then review the diff.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan, diffPlans, formatPlanDiff, type Plan } from '../../compiler/index.ts';
import { computeReloadWarnings } from '../../runtime/reload/warnings.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const goldenDir = join(ROOT, 'test', 'golden', 'plan-diff');
const update = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

async function plan(file: string, name: string): Promise<Plan> {
  const result = await buildPlan({ configPath: file, baseDir: `/golden/plan-diff/${name}` });
  if (!result.ok) throw new Error(`${file} is invalid: ${JSON.stringify(result.diagnostics)}`);
  return result.plan;
}

function golden(path: string, actual: string) {
  if (update) writeFileSync(path, actual);
  expect(existsSync(path), `${path} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('plan --diff golden', () => {
  it('has cases', () => expect(cases).toEqual(expect.arrayContaining(['reviewer', 'no-changes'])));

  it.each(cases)('%s', async (name) => {
    const dir = join(goldenDir, name);
    const base = await plan(join(dir, 'base.yaml'), name);
    const current = await plan(join(dir, 'config.yaml'), name);
    const diff = diffPlans(base, current);
    const warnings = computeReloadWarnings(base, current);
    golden(join(dir, 'diff.txt'), `${formatPlanDiff(diff, { warnings })}\n`);
    golden(join(dir, 'diff.color.txt'), `${formatPlanDiff(diff, { warnings, color: true })}\n`);
    golden(join(dir, 'diff.md'), `${formatPlanDiff(diff, { warnings, format: 'markdown' })}\n`);
  });

  it('is what `regctl plan --diff --format markdown` prints, and plain text when not on a terminal', () => {
    const dir = join(goldenDir, 'reviewer');
    const run = (format: string) =>
      spawnSync(
        process.execPath,
        [
          join(ROOT, 'bin/regctl.mjs'),
          'plan',
          '--config',
          join(dir, 'config.yaml'),
          '--diff',
          join(dir, 'base.yaml'),
          '--format',
          format,
        ],
        { encoding: 'utf8', env: { ...process.env, NO_COLOR: '' } },
      );
    const md = run('markdown');
    expect(md.status, md.stderr).toBe(0);
    // The CLI compiles relative paths against the configs' real folder: compare without plan ids.
    const withoutIds = (s: string) => s.replaceAll(/[0-9a-f]{12}/g, 'ID');
    expect(withoutIds(md.stdout)).toBe(withoutIds(readFileSync(join(dir, 'diff.md'), 'utf8')));
    const text = run('text');
    expect(text.stdout).not.toContain('\x1b[');
    expect(withoutIds(text.stdout)).toBe(withoutIds(readFileSync(join(dir, 'diff.txt'), 'utf8')));
  });

  it('is coloured on a terminal (a real pseudo-terminal from util-linux script), unless NO_COLOR is set', () => {
    const dir = join(goldenDir, 'reviewer');
    const command = [process.execPath, join(ROOT, 'bin/regctl.mjs'), 'plan', '--config', join(dir, 'config.yaml')]
      .concat(['--diff', join(dir, 'base.yaml')])
      .map((arg) => `'${arg}'`)
      .join(' ');
    const onTerminal = (noColor: string) =>
      spawnSync('script', ['-qec', command, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: noColor },
        timeout: 30_000,
      });
    const coloured = onTerminal('');
    expect(coloured.status, coloured.stderr).toBe(0);
    const withoutIds = (s: string) => s.replaceAll(/[0-9a-f]{12}/g, 'ID').replaceAll('\r\n', '\n');
    // The terminal carries stderr too (the config's own warning): the diff starts at its summary line.
    const diff = coloured.stdout.slice(coloured.stdout.search(/^plan /m));
    expect(withoutIds(diff)).toBe(withoutIds(readFileSync(join(dir, 'diff.color.txt'), 'utf8')));
    const plain = onTerminal('1');
    expect(plain.stdout).not.toContain('\x1b[');
    expect(plain.stdout).toContain('2 to add, 3 to change, 2 to destroy');
  });
});
