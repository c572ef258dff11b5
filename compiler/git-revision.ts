/**
 * Building the plan of a config as it is at a git revision (`regctl plan --diff --against REV`).
 * The revision's tree is extracted with `git archive` into a temporary folder, so the config and
 * every local module it imports are read as they were then; bare imports (`zod`, …) still resolve
 * through a symlink to the repository's `node_modules`. Relative paths compile against the
 * original folder so the two plans are comparable.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { type BuildOptions, type BuildResult, buildPlan } from './build.ts';
import { error } from './diagnostics.ts';
import { findConfigFile } from './load.ts';

function run(command: string, args: string[], cwd: string, input?: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    if (input && child.stdin) input.pipe(child.stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(out.trim());
      else reject(new Error(`${command} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`));
    });
  });
}

/** Extracts `rev` of the repository at `top` into `dir` (git archive | tar -x). */
async function extract(top: string, rev: string, dir: string): Promise<void> {
  const archive = spawn('git', ['archive', '--format=tar', rev], { cwd: top, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  archive.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const archived = new Promise<void>((ok, fail) => {
    archive.on('error', fail);
    archive.on('close', (code) =>
      code === 0 ? ok() : fail(new Error(`git archive ${rev}: ${err.trim() || `exit ${code}`}`)),
    );
  });
  await Promise.all([run('tar', ['-x', '-C', dir], dir, archive.stdout), archived]);
}

export interface RevisionOptions extends Omit<BuildOptions, 'baseDir'> {
  /** Any git revision: a commit, a branch, `HEAD~1`, a tag. */
  rev: string;
}

/**
 * Builds the plan of the config at `rev`. The config is the same file `buildPlan` would pick
 * now (explicit `configPath` or found in `cwd`), read from the revision; it is not built twice.
 * Never throws: not a git repository, an unknown revision, or a config missing at `rev` become
 * a `revision-failed` diagnostic.
 */
export async function buildPlanAtRevision(options: RevisionOptions): Promise<BuildResult> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const found = findConfigFile({ configPath: options.configPath, cwd });
  if (!found.ok) return { ok: false, stage: 'load', files: [], diagnostics: found.diagnostics };
  const { configPath } = found;
  const fail = (message: string, hint?: string): BuildResult => ({
    ok: false,
    stage: 'load',
    configPath,
    files: [],
    diagnostics: [error('revision-failed', [], message, hint)],
  });
  const top = await run('git', ['rev-parse', '--show-toplevel'], dirname(configPath)).catch(() => undefined);
  if (top === undefined) return fail(`${configPath} is not in a git repository`, 'compare with --diff OTHER_CONFIG');
  // Resolved once to a commit id: that id (never the user's text, which could read as an option)
  // is what git archive gets.
  const commit = await run(
    'git',
    ['rev-parse', '--verify', '--quiet', '--end-of-options', `${options.rev}^{commit}`],
    top,
  ).catch(() => undefined);
  if (commit === undefined) return fail(`unknown revision \`${options.rev}\`: not a commit in ${top}`);
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'regctl-rev-'));
    await extract(top, commit, dir);
    if (existsSync(join(top, 'node_modules')))
      await symlink(join(top, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const copy = join(dir, relative(top, configPath));
    if (!existsSync(copy)) return fail(`${relative(top, configPath)} does not exist at ${options.rev}`);
    return await buildPlan({ ...options, configPath: copy, cwd: dir, baseDir: dirname(configPath) });
  } catch (cause) {
    return fail(cause instanceof Error ? cause.message : String(cause));
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
