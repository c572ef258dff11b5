// The CLI of a source checkout whose dist/ is missing or older than the sources: the CLI and
// everything it imports from this repository are bundled by esbuild (packages stay external,
// dynamic imports become lazily loaded chunks) into `node_modules/.cache/regctl/<hash>/`, named by
// the hash of the output, so an unchanged tree reuses its bundle and concurrent starts never see a
// half-written one (written to a temp folder, then renamed). Never used by the installed package,
// which runs dist/ (built by `npm run build`). Why not tsx's `register()` here either: a loader
// keeps a thread with its own V8 isolate for the life of the process, ~37 MiB of a server's memory
// (measured), and the memory tests run from checkouts.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Bundles `cli/main.ts` (and the reload's child entry) of the checkout at `root`; the bundle's URL. */
export async function devBundle(root) {
  const { build } = await import('esbuild');
  const cache = join(root, 'node_modules', '.cache', 'regctl');
  const result = await build({
    // The child process that builds a plan for each hot reload (runtime/reload/config-evaluator.ts
    // finds it beside its own chunk, as `config-evaluator-child.js`).
    entryPoints: {
      regctl: join(root, 'cli', 'main.ts'),
      'config-evaluator-child': join(root, 'runtime', 'reload', 'config-evaluator-child.ts'),
    },
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    write: false,
    outdir: cache,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  const hash = createHash('sha256');
  for (const file of result.outputFiles) hash.update(relative(cache, file.path)).update(file.contents);
  const dir = join(cache, hash.digest('hex').slice(0, 16));
  if (!existsSync(dir)) {
    await mkdir(cache, { recursive: true });
    const temp = await mkdtemp(join(cache, '.tmp-'));
    for (const file of result.outputFiles) {
      const target = join(temp, relative(cache, file.path));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.contents);
    }
    // Another process may have renamed the same bundle into place first: theirs is identical.
    await rename(temp, dir).catch(() => rm(temp, { recursive: true, force: true }));
    await pruneOldBundles(cache, dir);
  }
  return pathToFileURL(join(dir, 'regctl.js')).href;
}

/**
 * Removes bundles of earlier source trees, once a day old: a process started from one may still
 * load its lazy chunks (the S3 driver, `warm`) hours later, so recent ones stay.
 */
async function pruneOldBundles(cache, keep) {
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const name of await readdir(cache).catch(() => [])) {
    const path = join(cache, name);
    if (path === keep) continue;
    const info = await stat(path).catch(() => undefined);
    if (info && info.mtimeMs < dayAgo) await rm(path, { recursive: true, force: true }).catch(() => {});
  }
}
