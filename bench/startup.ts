/**
 * Start-up cost of the CLI as a user sees it: the wall time of `regctl validate` and the time
 * from spawning `regctl serve` to its first `200` on `/v2/`, both on a copy of the root
 * `registry.config.ts` (on a free loopback port, its file store beside it). Each run is a fresh
 * process; prints every figure, the median and the worst.
 *
 *   node bin/run-ts.mjs bench/startup.ts [--runs 10] [--launcher PATH] [--schema SPEC] [--dir DIR]
 *
 * `--launcher` measures another tree or an installed package (`.../regctl-registry/bin/regctl.mjs`
 * of an install of the packed tarball); the default is this checkout's `bin/regctl.mjs`.
 * `--schema` is what the config imports `defineConfig` from (default: this checkout's
 * `schema/index.ts`; `regctl-registry` for an installed package, with `--dir` its project
 * folder, where the config copy is written). Every loop is bounded (by count and a 20 s deadline
 * per start); nothing leaves 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    launcher: { type: 'string' },
    schema: { type: 'string' },
    dir: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
if (!(Number.isInteger(RUNS) && RUNS >= 1 && RUNS <= 100)) throw new Error('--runs must be an integer from 1 to 100');
const launcher = resolve(values.launcher ?? join(REPO, 'bin/regctl.mjs'));
const DEADLINE_MS = 20_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runToExit(args: string[]): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [launcher, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', fail);
    child.once('exit', (code) => done({ code, ms: performance.now() - started }));
  });
}

async function firstOk(configFile: string, port: number): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [launcher, 'serve', '--config', configFile, '--no-watch'], {
    cwd: dirname(configFile),
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  try {
    while (performance.now() - started < DEADLINE_MS) {
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        (res) => res.status === 200,
        () => false,
      );
      if (ok) return performance.now() - started;
      await sleep(2);
    }
    throw new Error(`serve did not answer 200 on /v2/ within ${DEADLINE_MS} ms`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const tmp = new TmpDirs();
const dir = values.dir === undefined ? await tmp.make('regctl-bench-startup-') : resolve(values.dir);
try {
  const port = await freePort();
  const text = (await readFile(join(REPO, 'registry.config.ts'), 'utf8'))
    .replace("from './schema/index.ts'", `from ${JSON.stringify(values.schema ?? join(REPO, 'schema/index.ts'))}`)
    .replace('port: 5000', `port: ${port}`);
  const configFile = join(dir, 'registry.config.bench.ts');
  await writeFile(configFile, text);
  const validateMs: number[] = [];
  for (let n = 0; n < RUNS; n += 1) {
    const { code, ms } = await runToExit(['validate', '--config', configFile]);
    if (code !== 0) throw new Error(`validate exited with ${code}`);
    validateMs.push(ms);
  }
  const serveMs: number[] = [];
  for (let n = 0; n < RUNS; n += 1) serveMs.push(await firstOk(configFile, port));

  const row = (label: string, xs: number[]) =>
    `${label.padEnd(28)} median ${median(xs).toFixed(0).padStart(5)} ms   worst ${Math.max(...xs)
      .toFixed(0)
      .padStart(5)} ms   (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`regctl start-up, ${RUNS} runs each, ${launcher}, node ${process.version}`);
  console.log(row('validate (the root config)', validateMs));
  console.log(row('serve → first 200 on /v2/', serveMs));
} finally {
  if (values.dir !== undefined) await rm(join(dir, 'registry.config.bench.ts'), { force: true });
  await tmp.cleanup();
}
