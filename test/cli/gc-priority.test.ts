/**
 * `regctl gc` lowers its own CPU priority (`--nice`, default 10) so that a registry serving on the
 * same machine keeps its CPU. Observed in a child process: niceness only ever goes up.
 */
import { spawnSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** Runs `lowerPriority(increment)` in a fresh Node process and returns the niceness it then has. */
function nicenessAfter(increment: number): number {
  const script = `import { getPriority } from 'node:os';
import { lowerPriority } from ${JSON.stringify(join(root, 'cli/commands/gc.ts'))};
lowerPriority(${increment});
console.log(getPriority());`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
    encoding: 'utf8',
    cwd: root,
  });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return Number(result.stdout.trim());
}

describe('regctl gc priority', () => {
  const base = getPriority();

  it('lowers the priority by the increment, at most to 19, and leaves it with 0', () => {
    expect(nicenessAfter(10)).toBe(Math.min(19, base + 10));
    expect(nicenessAfter(19)).toBe(19);
    expect(nicenessAfter(0)).toBe(base);
  });

  it('refuses a --nice outside 0-19 as a usage error (exit 2), before touching any store', () => {
    for (const value of ['20', '-1', 'x']) {
      const result = spawnSync(process.execPath, [join(root, 'bin/regctl.mjs'), 'gc', `--nice=${value}`], {
        encoding: 'utf8',
        cwd: root,
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('--nice takes 0 to 19');
    }
  });
});
