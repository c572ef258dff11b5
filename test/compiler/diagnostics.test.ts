import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../../compiler/diagnostics.ts';
import { type Diagnostic, formatDiagnostics, formatPath } from '../../compiler/index.ts';

describe('diagnostics', () => {
  it('renders paths the way users write them', () => {
    expect(formatPath(['repositories', 2, 'members', 1])).toBe('repositories[2].members[1]');
    expect(formatPath(['listeners', 0, 'mirrors', 'docker.io'])).toBe('listeners[0].mirrors["docker.io"]');
    expect(formatPath([])).toBe('(root)');
  });

  it('suggests close names only', () => {
    expect(editDistance('dockerhub', 'docker-hub')).toBe(1);
    expect(closest('dockerhub', ['docker-hub', 'registry'])).toBe('docker-hub');
    expect(closest('zzz', ['docker-hub', 'registry'])).toBeUndefined();
    expect(closest('writable', ['members', 'writableMember'])).toBe('writableMember');
  });

  const diagnostics: Diagnostic[] = [
    {
      code: 'unknown-member',
      severity: 'error',
      path: ['repositories', 1, 'members', 0],
      message: 'unknown repository `privte`',
      hint: 'did you mean `private`?',
      file: '/repo/registry.config.yaml',
      line: 6,
      column: 15,
    },
    {
      code: 'hosted-not-pushable',
      severity: 'warning',
      path: ['repositories', 0],
      message: 'nobody can push, 100%',
      file: '/repo/registry.config.ts',
    },
  ];

  it('formats text with locations, hints and a summary', () => {
    expect(formatDiagnostics(diagnostics, 'text', '/repo')).toBe(
      [
        'registry.config.yaml:6:15: error repositories[1].members[0]: unknown repository `privte` [unknown-member]',
        '  hint: did you mean `private`?',
        'registry.config.ts: warning repositories[0]: nobody can push, 100% [hosted-not-pushable]',
        '1 error, 1 warning',
      ].join('\n'),
    );
  });

  it('formats GitHub workflow commands with escaping', () => {
    expect(formatDiagnostics(diagnostics, 'github', '/repo').split('\n')).toEqual([
      '::error file=registry.config.yaml,line=6,col=15,title=regctl unknown-member::repositories[1].members[0]: unknown repository `privte` (did you mean `private`?)',
      '::warning file=registry.config.ts,title=regctl hosted-not-pushable::repositories[0]: nobody can push, 100%25',
    ]);
  });

  it('formats JSON as the diagnostics array', () => {
    expect(JSON.parse(formatDiagnostics(diagnostics, 'json'))).toEqual(diagnostics);
  });
});
