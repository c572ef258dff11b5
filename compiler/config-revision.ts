/**
 * Which git commit a config on disk is at: what `/-/status` reports as the config revision, so an
 * operator of a git-synced registry can tell which commit is serving. No heavy imports: the
 * serving process calls it at startup and after every reload attempt.
 */
import { execFile } from 'node:child_process';
import { dirname, isAbsolute, relative } from 'node:path';

/** The git commit a config's folder is checked out at, and whether its files differ from it. */
export interface ConfigRevision {
  /** `HEAD` of the repository holding the config. */
  readonly commit: string;
  /** True when the config or a file it imports has uncommitted changes. */
  readonly dirty: boolean;
}

function git(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, timeout: timeoutMs, windowsHide: true }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout.trim());
    });
  });
}

/**
 * The {@link ConfigRevision} of `configPath` (`files`: the config and its imports, for the dirty
 * check), or undefined when it is not in a git checkout, git is missing, or git does not answer
 * within `timeoutMs`. Never throws.
 */
export async function describeConfigRevision(
  configPath: string,
  files: readonly string[],
  timeoutMs = 2000,
): Promise<ConfigRevision | undefined> {
  const cwd = dirname(configPath);
  try {
    const [top, commit] = (await git(['rev-parse', '--show-toplevel', '--verify', '-q', 'HEAD'], cwd, timeoutMs)).split(
      '\n',
    );
    if (top === undefined || commit === undefined || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return undefined;
    // Imports from outside the checkout (a package, a shared folder) are not this commit's to judge.
    const paths = [configPath, ...files]
      .map((file) => relative(top, file))
      .filter((path) => path !== '' && !path.startsWith('..') && !isAbsolute(path));
    const changes = await git(['status', '--porcelain', '--', ...new Set(paths)], top, timeoutMs);
    return { commit, dirty: changes !== '' };
  } catch {
    return undefined;
  }
}
