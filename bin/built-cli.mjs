// Which CLI the launcher runs: the built one in dist/ when it exists and (in a source checkout)
// is not older than any source file; `undefined` means "build it or bundle the sources".
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The folders whose TypeScript is compiled into dist/ (tsconfig.build.json's `include`). */
export const SOURCE_DIRS = ['cli', 'client', 'compiler', 'runtime', 'schema'];

/** Written by scripts/build.mjs; its mtime is when that build started reading the sources. */
export const BUILD_STAMP = join('dist', '.build-stamp');

/** The newest mtime (ms) of a `.ts` file under `dir`, 0 when there is none. */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const mtime = statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

/**
 * The path of dist/cli/main.js under `root` if the launcher may run it: always in an installed
 * package (no sources beside it), and in a checkout only while no source is newer than the build.
 */
export function builtCli(root) {
  const main = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) return undefined;
  if (!existsSync(join(root, 'cli', 'main.ts'))) return main; // an installed package
  const stamp = join(root, BUILD_STAMP);
  if (!existsSync(stamp)) return undefined;
  const built = statSync(stamp).mtimeMs;
  for (const dir of SOURCE_DIRS) {
    const path = join(root, dir);
    if (existsSync(path) && newestSource(path) > built) return undefined;
  }
  return main;
}
