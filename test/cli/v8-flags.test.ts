/**
 * The launcher's V8 flags: incremental marking is off unless the environment asks for V8's default,
 * and each flag is one V8 accepts (a typo would be ignored by V8 without a word).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { v8Flags } from '../../bin/v8-flags.mjs';

describe('launcher V8 flags', () => {
  it('turns incremental marking off by default, and keeps the default with REGCTL_INCREMENTAL_MARKING=1', () => {
    expect(v8Flags({})).toEqual(['--no-incremental-marking']);
    expect(v8Flags({ REGCTL_INCREMENTAL_MARKING: '0' })).toEqual(['--no-incremental-marking']);
    expect(v8Flags({ REGCTL_INCREMENTAL_MARKING: '1' })).toEqual([]);
  });

  it('names flags this Node’s V8 knows (an unknown one makes node refuse to start)', () => {
    for (const flag of v8Flags({})) {
      expect(execFileSync(process.execPath, [flag, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' })).toBe(
        'ok',
      );
    }
    expect(() => execFileSync(process.execPath, ['--no-incremental-markingz', '-e', '0'], { stdio: 'pipe' })).toThrow(
      /bad option/,
    );
  });
});
