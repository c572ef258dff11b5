#!/usr/bin/env node
// Runs a TypeScript script of this repository: `node bin/run-ts.mjs scripts/x.ts args…`.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

const [script, ...rest] = process.argv.slice(2);
if (!script) {
  console.error('usage: run-ts.mjs SCRIPT [ARGS…]');
  process.exit(2);
}
if (!existsSync(resolve(script))) {
  console.error(`run-ts.mjs: no such script: ${script}`);
  process.exit(2);
}
register();
process.argv = [process.argv[0], resolve(script), ...rest];
await import(pathToFileURL(resolve(script)).href);
