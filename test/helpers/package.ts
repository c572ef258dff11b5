/**
 * The product as users get it: `npm pack` of this checkout (its `prepack` builds dist/), and an
 * install of that tarball into an empty folder outside the source tree, the way a platform team's
 * config repository installs it. Dependencies come from the npm cache (`--prefer-offline`: the
 * checkout's `npm ci` filled it), so a test needs no network once the checkout is installed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.ts';
import { REPO_ROOT } from './regctl-server.ts';

/**
 * The environment for an npm run here, without the `npm_*` variables of an enclosing `npm test`
 * (its prefix and package settings would point the nested npm back at this checkout).
 */
export function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
}

/** What `package.json` says about the package. */
export interface PackageManifest {
  readonly name: string;
  readonly version: string;
}

export async function readManifest(): Promise<PackageManifest> {
  return JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageManifest;
}

/** `npm pack` of the checkout into `dir`; the tarball's absolute path. */
export async function packPackage(dir: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--json', '--silent'], {
    cwd: REPO_ROOT,
    env: npmEnv(),
    timeoutMs: 120_000,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  return join(dir, packed.filename);
}

/** The paths inside a tarball, relative to its `package/` folder. */
export async function listTarball(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/^package\//, ''));
}

/** The version of a package installed in this checkout (to install the same one from the cache). */
export async function checkoutVersion(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'));
  return (manifest as PackageManifest).version;
}

/**
 * Installs `tarball` (and `extra` packages, e.g. `typescript@5.9.2`) into `dir`, which becomes an
 * npm project of its own (`type: module`). Resolves when `npm install` is done.
 */
export async function installPackage(dir: string, tarball: string, extra: readonly string[] = []): Promise<void> {
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' })}\n`);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...extra], {
    cwd: dir,
    env: npmEnv(),
    timeoutMs: 170_000,
  });
}
