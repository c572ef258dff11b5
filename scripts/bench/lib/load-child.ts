/**
 * {@link runLoad} in a child Node process, for requests wrk cannot measure: wrk 4.1 waits for a
 * body after a HEAD response that carries Content-Length, so blob HEAD loads run here instead.
 * The child has its own event loop and undici pool, so the benchmark script never competes with
 * the load it measures.
 *
 *   node bin/run-ts.mjs scripts/bench/lib/load-child.ts '<ChildLoadOptions as JSON>'
 *
 * prints one JSON {@link LoadResult} on stdout.
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { type LoadOptions, type LoadResult, runLoad } from './load.ts';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));

/** What the child needs: LoadOptions without the pool, plus the origin to open one to. */
export type ChildLoadOptions = Omit<LoadOptions, 'pool'> & { origin: string };

/** Runs the load loop in a child process and returns its result. */
export async function runLoadInChild(options: ChildLoadOptions): Promise<LoadResult> {
  const runner = join(resolve(HERE, '../../..'), 'bin/run-ts.mjs');
  const { stdout } = await run(process.execPath, [runner, fileURLToPath(import.meta.url), JSON.stringify(options)], {
    timeout: (options.maxSeconds + 60) * 1000,
  });
  return JSON.parse(stdout) as LoadResult;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = JSON.parse(process.argv[2] ?? '{}') as ChildLoadOptions;
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1 });
  try {
    process.stdout.write(`${JSON.stringify(await runLoad({ ...options, pool }))}\n`);
  } finally {
    await pool.close();
  }
}
