/**
 * Code generation: zod source → `schema/config.schema.json` → `schema/generated/config.d.ts`
 * (json-schema-to-typescript). `npm run gen` writes both; `--check` exits 1 when either file
 * differs from what the zod source produces (the drift test does the same in-process).
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';
import { toConfigJsonSchema } from '../schema/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_FILE = join(root, 'schema', 'config.schema.json');
export const TYPES_FILE = join(root, 'schema', 'generated', 'config.d.ts');

/** The two generated files' expected contents. */
export async function generate(): Promise<{ schema: string; types: string }> {
  const json = toConfigJsonSchema();
  const schema = `${JSON.stringify(json, null, 2)}\n`;
  const types = await compile(JSON.parse(schema), 'RegistryConfig', {
    bannerComment:
      '/* Generated from schema/config.schema.json by scripts/gen-schema.ts (npm run gen). Do not edit. */',
    additionalProperties: false,
    style: { singleQuote: true, printWidth: 120 },
  });
  return { schema, types };
}

/** True when the checked-in JSON Schema has the same value as `expected` (formatting aside). */
export async function isSchemaCurrent(expected: string): Promise<boolean> {
  const text = await readFile(SCHEMA_FILE, 'utf8').catch(() => 'null');
  return JSON.stringify(JSON.parse(text)) === JSON.stringify(JSON.parse(expected));
}

async function main(): Promise<void> {
  const { schema, types } = await generate();
  if (process.argv.includes('--check')) {
    const stale = [];
    if (!(await isSchemaCurrent(schema))) stale.push(SCHEMA_FILE);
    if ((await readFile(TYPES_FILE, 'utf8').catch(() => '')) !== types) stale.push(TYPES_FILE);
    if (stale.length > 0) {
      console.error(`out of date (run npm run gen): ${stale.join(', ')}`);
      process.exitCode = 1;
    }
    return;
  }
  await writeFile(SCHEMA_FILE, schema);
  await writeFile(TYPES_FILE, types);
  // Keep the checked-in JSON in the repository's formatting (biome); the drift check compares values.
  execFileSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', SCHEMA_FILE], { stdio: 'ignore' });
  console.log(`wrote ${SCHEMA_FILE} and ${TYPES_FILE}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
