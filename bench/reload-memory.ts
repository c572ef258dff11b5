/**
 * Memory across reloads: `regctl serve` (the real CLI, a child process, on a free loopback port)
 * serves a copy of the repository's root `registry.config.ts`, which is then changed `--reloads`
 * times by one line (the hosted repository's `deploymentPolicy`, back and forth, so every reload
 * builds and swaps a new plan), each reload waited for on `/-/status`. Prints the server's RSS
 * (VmRSS from /proc) and open file descriptors after reload `--warmup` and at the end, and the
 * growth in between. Target: 1,000 reloads grow RSS by less than 20 MB after the first 50.
 *
 *   node bin/run-ts.mjs bench/reload-memory.ts [--reloads 1000] [--warmup 50] [--every 100]
 *
 * RSS is sampled after a short quiet time (the idle memory reducer, runtime/server/memory-reducer.ts,
 * runs then), as the median of samples. Every loop is bounded; nothing leaves 127.0.0.1.
 */
import { readdir, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { changeConfig, fetchStatus, startRootConfig } from './lib/reload-config.ts';
import { idleRss, readRss } from './lib/rss.ts';

const { values } = parseArgs({
  options: {
    reloads: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '50' },
    every: { type: 'string', default: '100' },
  },
});
const RELOADS = Number(values.reloads);
const WARMUP = Number(values.warmup);
const EVERY = Number(values.every);
if (!(Number.isInteger(RELOADS) && Number.isInteger(WARMUP) && WARMUP >= 1 && RELOADS > WARMUP && EVERY >= 1))
  throw new Error('--reloads must be an integer above --warmup (≥ 1), --every ≥ 1');

const DEADLINE_MS = 30_000;
const POLICY_LINE = "deploymentPolicy: 'allowRedeploy'";
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The summed RSS of `pid`'s child processes (the idle spare config evaluator), and how many. */
async function childrenRss(pid: number): Promise<{ bytes: number; count: number }> {
  let bytes = 0;
  let count = 0;
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const list = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of list.split(' ').filter(Boolean).map(Number)) {
      const rss = await readRss(child);
      if (rss !== null) {
        bytes += rss;
        count += 1;
      }
    }
  }
  return { bytes, count };
}

async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`).catch(() => [])).length;
}

/** RSS after the server has been idle a moment (the memory reducer collects then). */
async function settled(pid: number): Promise<{ rss: number; fds: number }> {
  await sleep(2000);
  return { rss: await idleRss(pid, 20, 100), fds: await fdCount(pid) };
}

const tmp = new TmpDirs();
const root = await tmp.make('regctl-bench-reload-memory-');
const { regctl, url, configFile, text: base } = await startRootConfig(root, 'warn');
if (!base.includes(POLICY_LINE)) throw new Error(`the root config has no \`${POLICY_LINE}\` line`);
const other = base.replace(POLICY_LINE, "deploymentPolicy: 'disableRedeploy'");
try {
  const pid = regctl.pid();
  const start = await settled(pid);
  console.log(`start: RSS ${mib(start.rss)}, ${start.fds} fds`);
  let current = (await fetchStatus(url)).planId;
  let afterWarmup = start;
  const started = performance.now();
  for (let n = 1; n <= RELOADS; n += 1) {
    const { status } = await changeConfig(url, configFile, n % 2 === 1 ? other : base, current, {
      pollMs: 5,
      deadlineMs: DEADLINE_MS,
    });
    current = status.planId;
    if (n === WARMUP) {
      afterWarmup = await settled(pid);
      console.log(`after reload ${n}: RSS ${mib(afterWarmup.rss)}, ${afterWarmup.fds} fds`);
    } else if (n % EVERY === 0) {
      console.log(`after reload ${n}: RSS ${mib((await idleRss(pid, 3, 20)) || 0)}, ${await fdCount(pid)} fds`);
    }
  }
  const end = await settled(pid);
  const seconds = (performance.now() - started) / 1000;
  const growth = end.rss - afterWarmup.rss;
  console.log(`after reload ${RELOADS}: RSS ${mib(end.rss)}, ${end.fds} fds (${seconds.toFixed(0)} s of reloads)`);
  const children = await childrenRss(pid);
  console.log(
    `its child processes (the spare evaluator; esbuild's service): ${children.count}, RSS ${mib(children.bytes)}`,
  );
  const perReloadKiB = growth / (RELOADS - WARMUP) / 1024;
  console.log(
    `growth from reload ${WARMUP} to ${RELOADS}: ${mib(growth)} (${perReloadKiB.toFixed(1)} KiB per reload), ` +
      `fds ${afterWarmup.fds} → ${end.fds}; target < 20 MB: ${growth < 20e6 ? 'ok' : 'MISSED'}`,
  );
} finally {
  await regctl.stop();
  await tmp.cleanup();
}
