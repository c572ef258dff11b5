/**
 * The GitOps example's GitHub workflow (examples/gitops/.github/workflows/regctl.yml), run as
 * GitHub would run it, as far as a machine without GitHub can: its `run:` steps are executed with
 * bash in a git repository holding the example config (a base commit on `origin/main` and a pull
 * request's commit on top), `npx regctl` resolving to this checkout; the comment step's script is
 * evaluated with a recording stand-in for the GitHub API. So the workflow's validate fails on an
 * unset secret (`--strict-env`), its plan step writes the markdown diff to `$GITHUB_OUTPUT`, and
 * the comment step posts that diff once and updates the same comment on the next push.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/regctl-server.ts';

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  with?: { script?: string };
}

const example = join(REPO_ROOT, 'examples', 'gitops');
const workflow = parse(readFileSync(join(example, '.github', 'workflows', 'regctl.yml'), 'utf8')) as {
  jobs: { plan: { steps: Step[] } };
};
const steps = workflow.jobs.plan.steps;
const step = (name: string) => steps.find((s) => s.name === name)!;

let dir: string;
let bin: string;

function git(...args: string[]) {
  const result = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

/** A step's `run:` script, with the pull request's `${{ github.base_ref }}`, in bash as Actions runs it. */
function runStep(run: string, env: Record<string, string | undefined>) {
  const script = run.replaceAll(/\$\{\{ github\.base_ref \}\}/g, 'main');
  const { CI_PASSWORD: _, ...inherited } = process.env;
  return spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...inherited, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1', ...env },
    timeout: 60_000,
  });
}

const config = () =>
  readFileSync(join(example, 'registry.config.ts'), 'utf8').replace(
    "'../../schema/index.ts'",
    JSON.stringify(join(REPO_ROOT, 'schema', 'index.ts')),
  );

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'regctl-gitops-'));
  bin = join(dir, '.bin');
  spawnSync('mkdir', [bin]);
  // `npx regctl` of the workflow: the regctl of this checkout (a devDependency in a user's repository).
  writeFileSync(
    join(bin, 'npx'),
    `#!/bin/sh\n[ "$1" = regctl ] || exit 127\nshift\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO_ROOT, 'bin', 'regctl.mjs'))} "$@"\n`,
  );
  chmodSync(join(bin, 'npx'), 0o755);
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 'ci@example.invalid');
  git('config', 'user.name', 'ci');
  writeFileSync(join(dir, '.gitignore'), '.bin/\n');
  writeFileSync(join(dir, 'registry.config.ts'), config());
  writeFileSync(join(dir, 'repositories.ts'), readFileSync(join(example, 'repositories.ts')));
  git('add', '.');
  git('commit', '-q', '-m', 'base');
  git('update-ref', 'refs/remotes/origin/main', 'HEAD');
  // The pull request: tokens live longer.
  writeFileSync(join(dir, 'registry.config.ts'), config().replace("ttl: '5m'", "ttl: '10m'"));
  git('commit', '-q', '-am', 'longer tokens');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/gitops/.github/workflows/regctl.yml', () => {
  it('validate: an annotation and a failed check while the secret the config names is unset', () => {
    const validate = step('validate');
    expect(validate.run).toContain('--strict-env');
    const unset = runStep(validate.run!, {});
    expect(unset.status).toBe(1);
    expect(unset.stdout).toMatch(/^::error file=registry\.config\.ts,line=\d+,col=\d+,.*CI_PASSWORD/m);
    const set = runStep(validate.run!, { CI_PASSWORD: 'from-the-repository-secrets' });
    expect(set.status, set.stdout + set.stderr).toBe(0);
    expect(set.stdout + set.stderr).not.toContain('from-the-repository-secrets');
  });

  it('plan, then the comment: the markdown diff against the base branch is posted once, then updated', async () => {
    const output = join(dir, 'github-output');
    writeFileSync(output, '');
    const plan = runStep(step('plan diff against the base branch').run!, {
      GITHUB_OUTPUT: output,
      CI_PASSWORD: 'x',
    });
    expect(plan.status, plan.stderr).toBe(0);
    const written = readFileSync(output, 'utf8');
    const diff = /^diff<<REGCTL_EOF\n([\s\S]*)\nREGCTL_EOF\n$/.exec(written)?.[1];
    expect(diff, written).toBeDefined();
    expect(diff).toContain('**0 to add, 1 to change, 0 to destroy**');
    expect(diff).toContain('security.token.ttl: 5m → 10m');
    expect(diff).not.toContain('\x1b[');

    const post = step('post the plan diff');
    expect(post.uses).toMatch(/^actions\/github-script@/);
    const comments: { id: number; body: string }[] = [];
    const calls: string[] = [];
    const github = {
      paginate: async (list: () => Promise<unknown>) => list(),
      rest: {
        issues: {
          listComments: async () => comments.map((c) => ({ ...c })),
          createComment: async ({ body, issue_number }: { body: string; issue_number: number }) => {
            calls.push(`create ${issue_number}`);
            comments.push({ id: comments.length + 1, body });
          },
          updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
            calls.push(`update ${comment_id}`);
            comments.find((c) => c.id === comment_id)!.body = body;
          },
        },
      },
    };
    const context = { repo: { owner: 'team', repo: 'registry-config' }, issue: { number: 7 } };
    const AsyncFunction = (async () => undefined).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<void>;
    const script = new AsyncFunction('github', 'context', 'process', post.with!.script!);
    const env = { env: { DIFF: diff } };
    await script(github, context, env);
    await script(github, context, env);
    expect(calls).toEqual(['create 7', 'update 1']);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toBe(`<!-- regctl-plan -->\n${diff}`);
  });
});
