#!/usr/bin/env node
// scripts/build.mjs - `npm run build` (and `prepack`): compiles the sources to JavaScript and
// `.d.ts` in dist/ with tsc (tsconfig.build.json: `.ts` imports rewritten to `.js`).
//
// tsc writes into a fresh folder, which then replaces dist/ by rename, so a process starting from
// this checkout meanwhile (tests run in parallel with a pack) never loads a half-written file.
// The stamp's mtime is the time the build started reading the sources: bin/built-cli.mjs trusts
// dist/ only while no source file is newer.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const started = new Date();
const out = await mkdtemp(join(root, '.dist-'));
try {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
  const stamp = join(out, '.build-stamp');
  await writeFile(stamp, `${started.toISOString()}\n`);
  await utimes(stamp, started, started);
  const dist = join(root, 'dist');
  const old = `${out}-old`;
  if (existsSync(dist)) await rename(dist, old);
  await rename(out, dist);
  await rm(old, { recursive: true, force: true });
} catch (cause) {
  await rm(out, { recursive: true, force: true });
  console.error(`build: ${cause instanceof Error ? cause.message : String(cause)}`);
  process.exitCode = 1;
}
