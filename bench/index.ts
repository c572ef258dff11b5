/**
 * `npm run bench`: runs every benchmark script present under `bench/` and prints the
 * tables. Scripts that export `bench(options)` (see lib/types.ts) are run in this process and
 * their reports printed together at the end; any other script is run as its own process
 * (`node bin/run-ts.mjs bench/X.ts`) with its output passed through.
 *
 *   npm run bench                          every script
 *   npm run bench -- hosted s3             only these
 *   npm run bench -- --scale 0.25          smaller sizes/counts (quick check; not for the docs)
 *   npm run bench -- --json out.json       also write the reports as JSON
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { formatReport } from './lib/table.ts';
import type { BenchOptions, BenchReport } from './lib/types.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { scale: { type: 'string', default: '1' }, json: { type: 'string' } },
});
const scale = Number(values.scale);
if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${values.scale}`);

const scripts = (await readdir(HERE, { withFileTypes: true }))
  .filter((e) => e.isFile() && e.name.endsWith('.ts') && e.name !== 'index.ts')
  .map((e) => basename(e.name, '.ts'))
  .filter((name) => positionals.length === 0 || positionals.includes(name))
  .sort();
if (scripts.length === 0) throw new Error(`no benchmark script matches ${positionals.join(', ')}`);

const options: BenchOptions = { scale, log: (line) => process.stderr.write(`${line}\n`) };
const reports: BenchReport[] = [];
const failures: string[] = [];

function runChild(file: string): Promise<number> {
  return new Promise((resolveExit) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/run-ts.mjs'), file], {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code) => resolveExit(code ?? 1));
  });
}

for (const name of scripts) {
  const file = join(HERE, `${name}.ts`);
  const source = await readFile(file, 'utf8');
  process.stderr.write(`\n== bench: ${name} ==\n`);
  const started = performance.now();
  try {
    if (/export async function bench\(/.test(source)) {
      const module = (await import(pathToFileURL(file).href)) as { bench: (o: BenchOptions) => Promise<BenchReport> };
      reports.push(await module.bench({ ...options, log: (line) => options.log(`[${name}] ${line}`) }));
    } else {
      const code = await runChild(file);
      if (code !== 0) failures.push(`${name}: exited with ${code}`);
    }
  } catch (error) {
    failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.stderr.write(`== ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s ==\n`);
}

const header = `regctl benchmarks — ${new Date().toISOString()}, node ${process.version}, scale ${scale}`;
console.log(`\n${header}\n`);
for (const report of reports) console.log(`${formatReport(report)}\n`);
if (values.json) await writeFile(values.json, JSON.stringify({ header, reports }, null, 2));
if (failures.length) {
  console.error(`failed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  process.exitCode = 1;
}
