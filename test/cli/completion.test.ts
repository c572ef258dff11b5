/**
 * `regctl completion bash|zsh|fish` prints scripts the shells accept and that complete commands,
 * options and option values: bash's function is called as bash would call it, fish answers
 * `complete -C`, zsh parses its script (zsh -n) and the script names every command and option.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/process.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'regctl.mjs');
const dirs = new TmpDirs();
const scripts: Record<string, string> = {};
let dir: string;

beforeAll(async () => {
  dir = await dirs.make('regctl-completion-');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const result = spawnSync(process.execPath, [bin, 'completion', shell], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    scripts[shell] = join(dir, `regctl.${shell}`);
    writeFileSync(scripts[shell]!, result.stdout);
  }
});
afterAll(() => dirs.cleanup());

/** What bash's completion function offers for the words typed so far (the last may be partial). */
function bashComplete(...words: string[]): string[] {
  const script = `source ${scripts.bash}; COMP_WORDS=(regctl ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _regctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: dir });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.split('\n').filter(Boolean);
}

describe('bash', () => {
  it('completes commands, options and option values', () => {
    expect(bashComplete('')).toEqual(
      expect.arrayContaining(['validate', 'ls', 'rm', 'passwd', 'status', 'completion']),
    );
    expect(bashComplete('st')).toEqual(['status']);
    expect(bashComplete('validate', '--')).toEqual(
      expect.arrayContaining(['--config', '--format', '--strict-env', '--help']),
    );
    expect(bashComplete('validate', '--format', '')).toEqual(['text', 'json', 'github']);
    expect(bashComplete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(bashComplete('ls', '--reg')).toEqual(['--registry']);
    expect(bashComplete('ex')).toEqual(['export']);
    expect(bashComplete('export', '--')).toEqual(
      expect.arrayContaining(['--output', '--platform', '--referrers', '--list', '--registry']),
    );
    expect(bashComplete('import', '--')).toEqual(expect.arrayContaining(['--registry', '--config', '--json']));
  });
});

describe('fish', () => {
  it('is accepted by fish and completes commands, options and values', () => {
    const fish = requireBinary('fish', 'fish');
    const complete = (line: string) => {
      const result = spawnSync(fish, ['--no-config', '-c', `source ${scripts.fish}; complete -C '${line}'`], {
        encoding: 'utf8',
      });
      expect(result.status, result.stderr).toBe(0);
      return result.stdout.split('\n').map((l) => l.split('\t')[0]);
    };
    expect(complete('regctl ')).toEqual(expect.arrayContaining(['validate', 'plan', 'serve', 'ls', 'passwd']));
    expect(complete('regctl validate --')).toEqual(expect.arrayContaining(['--config', '--format', '--strict-env']));
    expect(complete('regctl validate --format ')).toEqual(expect.arrayContaining(['text', 'json', 'github']));
  });
});

describe('zsh', () => {
  it('is valid zsh naming every command and its options', () => {
    const zsh = requireBinary('zsh', 'zsh');
    const parsed = spawnSync(zsh, ['-n', scripts.zsh!], { encoding: 'utf8' });
    expect(parsed.status, parsed.stderr).toBe(0);
    const text = spawnSync(process.execPath, [bin, 'completion', 'zsh'], { encoding: 'utf8' }).stdout;
    expect(text.startsWith('#compdef regctl\n')).toBe(true);
    for (const command of [
      'validate',
      'plan',
      'schema',
      'serve',
      'warm',
      'export',
      'import',
      'ls',
      'rm',
      'status',
      'passwd',
      'completion',
    ])
      expect(text).toMatch(new RegExp(`^ {4}'${command}:`, 'm'));
    expect(text).toContain("'--format[format]:format:(text json github)'");
    // Loading it defines the function and registers it with compinit.
    const loaded = spawnSync(
      zsh,
      [
        '-f',
        '-c',
        `autoload -Uz compinit && compinit -D -d ${dir}/zcompdump; source ${scripts.zsh}; print -r -- $_comps[regctl]`,
      ],
      { encoding: 'utf8' },
    );
    expect(loaded.stdout.trim(), loaded.stderr).toBe('_regctl');
  });
});

describe('regctl completion', () => {
  it('needs one known shell', () => {
    expect(spawnSync(process.execPath, [bin, 'completion', 'tcsh'], { encoding: 'utf8' }).status).toBe(2);
    expect(spawnSync(process.execPath, [bin, 'completion'], { encoding: 'utf8' }).status).toBe(2);
  });
});
