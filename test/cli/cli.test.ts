import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'regctl.mjs');

function regctl(args: string[], cwd = root) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const example = (name: string) => join(root, 'examples', name, 'registry.config.ts');

describe('regctl validate', () => {
  it('exits 0 for a valid config and says so', () => {
    const { code, stdout } = regctl(['validate', '--config', example('minimal')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/registry\.config\.ts: valid \(plan [0-9a-f]{12}, \d+ ms\)/);
  });

  it('finds registry.config.ts in the current folder', () => {
    expect(regctl(['validate']).code).toBe(0);
  });

  it('exits 1 for an invalid config, printing every diagnostic', () => {
    const { code, stdout } = regctl(['validate', '--config', example('invalid/unknown-member')]);
    expect(code).toBe(1);
    expect(stdout).toContain('error repositories[1].members[0]: unknown repository `privte` [unknown-member]');
    expect(stdout).toContain('hint: did you mean `private`?');
    expect(stdout).toContain('1 error, 0 warnings');
  });

  it('exits 2 when the config cannot be loaded', () => {
    expect(regctl(['validate', '--config', join(root, 'nope', 'registry.config.ts')]).code).toBe(2);
  });

  it('--format json prints a machine-readable result', () => {
    const { code, stdout } = regctl(['validate', '--format', 'json', '--config', example('invalid/unknown-field')]);
    expect(code).toBe(1);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      ok: false,
      planId: null,
      diagnostics: [{ code: 'unknown-field', path: ['repositories', 0, 'anonymos'] }],
    });
  });

  it('--format github prints workflow commands', () => {
    const { code, stdout } = regctl(['validate', '--format', 'github', '--config', example('invalid/reserved-name')]);
    expect(code).toBe(1);
    expect(stdout.trim()).toBe(
      '::error file=examples/invalid/reserved-name/registry.config.ts,line=7,col=13,title=regctl reserved-name::repositories[1].name: `v2` is reserved and cannot name a repository',
    );
  });

  it('rejects an unknown format with exit 2', () => {
    expect(regctl(['validate', '--format', 'xml']).code).toBe(2);
  });

  it('warns about an unset environment variable the config references; --strict-env makes it an error', () => {
    const config = example('nexus-seed');
    const unset = { ...process.env, NO_COLOR: '1', CI_PASSWORD: '', UPSTREAM_PASSWORD: '' };
    const warned = spawnSync(process.execPath, [bin, 'validate', '--config', config], { encoding: 'utf8', env: unset });
    expect(warned.status).toBe(0);
    expect(warned.stdout).toMatch(
      /warning security\.users\[\d+\]\.password: environment variable `CI_PASSWORD` is not set \[env-unset\]/,
    );
    const strict = spawnSync(process.execPath, [bin, 'validate', '--strict-env', '--config', config], {
      encoding: 'utf8',
      env: unset,
    });
    expect(strict.status).toBe(1);
    expect(strict.stdout).toMatch(
      /error security\.users\[\d+\]\.password: environment variable `CI_PASSWORD` is not set/,
    );
    const set = {
      ...unset,
      ...Object.fromEntries(
        ['CI_PASSWORD', 'READER_PASSWORD', 'DOCKERHUB_USERNAME', 'DOCKERHUB_TOKEN', 'REGISTRY_TOKEN_KEY'].map((n) => [
          n,
          'x',
        ]),
      ),
    };
    const ok = spawnSync(process.execPath, [bin, 'validate', '--strict-env', '--config', config], {
      encoding: 'utf8',
      env: set,
    });
    expect(ok.status, ok.stdout).toBe(0);
    expect(ok.stdout).not.toContain('env-unset');
  });
});

describe('regctl plan', () => {
  it('prints a summary, and the redacted plan with --json', () => {
    const text = regctl(['plan', '--config', example('local-proxy')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('members private → upstream; writable private');
    const json = regctl(['plan', '--json', '--config', example('nexus-seed')]);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.security.users[0].password).toBe('env:CI_PASSWORD');
    expect(plan.repositories['docker-hub'].remote.auth).toEqual({
      username: 'env:DOCKERHUB_USERNAME',
      password: 'env:DOCKERHUB_TOKEN',
    });
  });

  it('exits 1 on an invalid config, diagnostics on stderr', () => {
    const { code, stderr } = regctl(['plan', '--config', example('invalid/group-cycle')]);
    expect(code).toBe(1);
    expect(stderr).toContain('group cycle: a → b → a');
  });

  it('--diff OTHER_CONFIG shows what changes from OTHER to the config', () => {
    const { code, stdout } = regctl(['plan', '--config', example('local-proxy'), '--diff', example('minimal')]);
    expect(code).toBe(0);
    expect(stdout).toContain('+ repository registry');
    expect(stdout).toContain('+ repository upstream');
    expect(stdout).toContain('    defaultRepository: "private" → "registry"');
    const json = JSON.parse(
      regctl(['plan', '--json', '--config', example('local-proxy'), '--diff', example('minimal')]).stdout,
    );
    expect(json.repositories.added).toEqual(['registry', 'upstream']);
  });

  it('--diff needs one base', () => {
    expect(regctl(['plan', '--diff']).code).toBe(2);
  });
});

describe('regctl plan --diff --against', () => {
  let repo: string;
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.test', ...args], {
      cwd: repo,
      encoding: 'utf8',
    });

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'regctl-git-'));
    git('init', '-q', '-b', 'main');
    await writeFile(join(repo, 'ports.ts'), 'export const port = 5000;\n');
    await writeFile(
      join(repo, 'registry.config.ts'),
      `import { port } from './ports.ts';
export default {
  repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push'] }],
  listeners: [{ host: '127.0.0.1', port, repository: 'private' }],
};
`,
    );
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    // Change only the imported module, and leave the change uncommitted.
    await writeFile(join(repo, 'ports.ts'), 'export const port = 5001;\n');
  });
  afterAll(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it('compares the working tree with the config and its imports at a revision', () => {
    const { code, stdout, stderr } = regctl(['plan', '--diff', '--against', 'HEAD'], repo);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('+ listener 127.0.0.1:5001');
    expect(stdout).toContain('- listener 127.0.0.1:5000');
    expect(stdout).not.toContain('blob store');
  });

  it('reports an unknown revision', () => {
    const { code, stderr } = regctl(['plan', '--diff', '--against', 'no-such-rev'], repo);
    expect(code).toBe(2);
    expect(stderr).toContain('revision-failed');
    expect(stderr).toContain(`unknown revision \`no-such-rev\`: not a commit in`);
  });

  it('never hands a revision that reads as an option to git', async () => {
    const out = join(repo, 'archive.tar');
    const { code, stderr } = regctl(['plan', '--diff', `--against=--output=${out}`], repo);
    expect(code).toBe(2);
    expect(stderr).toContain(`unknown revision \`--output=${out}\``);
    expect(existsSync(out)).toBe(false);
  });

  it('says when the config is not in a git repository', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'regctl-nogit-'));
    try {
      await writeFile(
        join(outside, 'registry.config.json'),
        JSON.stringify({ repositories: [{ name: 'p', type: 'hosted', anonymous: ['pull', 'push'] }] }),
      );
      const { code, stdout, stderr } = regctl(['plan', '--diff', '--against', 'HEAD'], outside);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(`${join(outside, 'registry.config.json')} is not in a git repository [revision-failed]`);
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('regctl schema, help, unknown commands', () => {
  it('prints the JSON Schema', () => {
    const { code, stdout } = regctl(['schema']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ type: 'object', title: 'regctl configuration' });
  });

  it.each(['validate', 'plan', 'schema', 'serve', 'warm'])('%s --help exits 0', (command) => {
    const { code, stdout } = regctl([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(`regctl ${command}`);
  });

  it('warm delegates to the runtime and exits 1 when an image fails', () => {
    // Nothing listens on port 9 of loopback: the pull fails without leaving the machine.
    const { code, stderr } = regctl(['warm', '--registry', 'http://127.0.0.1:9', '--concurrency', '1', 'myorg/app:1']);
    expect(code).toBe(1);
    expect(stderr).toContain('myorg/app:1');
    expect(regctl(['warm', '--concurrency', '0', 'x']).code).toBe(2);
  });

  it('warm with nothing to warm is a usage error (exit 2, as its help says)', () => {
    const { code, stderr } = regctl(['warm', '--registry', 'http://127.0.0.1:9']);
    expect(code).toBe(2);
    expect(stderr).toContain('nothing to warm: name images or give --list FILE');
    expect(regctl(['warm', '--help']).stdout).toContain('2 bad usage (also: nothing to warm)');
  });

  it('--version prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const { code, stdout } = regctl(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^regctl ${version.replaceAll('.', '\\.')} \\(regctl-registry, node v\\d+`));
  });

  it('exits 2 on an unknown command or option', () => {
    expect(regctl(['bogus']).code).toBe(2);
    expect(regctl(['validate', '--bogus']).code).toBe(2);
  });
});
