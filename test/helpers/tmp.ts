/**
 * Temporary directories for tests, removed when the test file is done.
 *
 * `TmpDirs` keeps the folders it made so one `await dirs.cleanup()` in `afterAll` removes them all;
 * set `REGCTL_KEEP_TMP=1` to keep them for a post-mortem (their paths are printed).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes a fresh, empty directory under the OS temp dir; the caller removes it. */
async function makeTmpDir(prefix = 'regctl-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A set of temporary directories removed together. */
export class TmpDirs {
  #dirs: string[] = [];

  /** A new empty directory, removed by {@link TmpDirs.cleanup}. */
  async make(prefix = 'regctl-test-'): Promise<string> {
    const dir = await makeTmpDir(prefix);
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * Removes every directory made so far (retrying a little: a daemon that just exited may still be
   * releasing files). Keeps them when `REGCTL_KEEP_TMP=1`.
   */
  async cleanup(): Promise<void> {
    const dirs = this.#dirs.splice(0);
    if (process.env.REGCTL_KEEP_TMP === '1') {
      for (const dir of dirs) console.error(`kept temp dir ${dir}`);
      return;
    }
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })));
  }
}
