#!/usr/bin/env node
// Launcher: sets V8's flags, then runs the built CLI (dist/cli/main.js, plain JavaScript: no
// loader, no bundler). In a source checkout whose dist/ is missing or older than the sources it
// bundles the sources instead (bin/dev-bundle.mjs), so `npm start` and the tests never run stale
// code; `npm run build` makes dist/ current again. The only TypeScript loading an installed
// package does is of the user's config file, done lazily by the compiler (compiler/import-config.ts).
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { builtCli } from './built-cli.mjs';
import { v8Flags } from './v8-flags.mjs';

// Before anything of regctl runs, so that no collection has started under the defaults.
for (const flag of v8Flags(process.env)) setFlagsFromString(flag);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function cliUrl() {
  const built = builtCli(root);
  if (built) return pathToFileURL(built).href;
  try {
    const { devBundle } = await import('./dev-bundle.mjs');
    const url = await devBundle(root);
    process.setSourceMapsEnabled(true);
    return url;
  } catch (cause) {
    // No esbuild (or an unwritable cache): run the sources through tsx's loader.
    if (process.env.REGCTL_DEBUG) console.error('regctl: bundling failed, using tsx:', cause);
    const { register } = await import('tsx/esm/api');
    register();
    return pathToFileURL(resolve(root, 'cli', 'main.ts')).href;
  }
}

const { main } = await import(await cliUrl());
const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
