/**
 * Reload latency end to end on the repository's root `registry.config.ts`: `regctl serve` (the
 * real CLI, a child process, on a free loopback port) serves a copy of it, and the config is
 * changed `--changes` times by rename-replacement, alternately adding a hosted repository and
 * removing it again. Each figure is the time from the rename to the first `/-/status` (polled every
 * `--poll` ms, 2 by default) showing the new plan id; the new repository is then checked to
 * answer. Prints each figure and the worst. Target: worst ≤ 300 ms over 10 changes.
 *
 *   node bin/run-ts.mjs bench/reload-latency.ts [--changes 10] [--gap 1000] [--poll 2]
 *
 * `--gap` is the quiet time between a change serving and the next write (git-sync writes every
 * few minutes at most). Every loop is bounded (by count and a 10 s deadline per change); nothing
 * leaves 127.0.0.1.
 */
import { parseArgs } from 'node:util';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { changeConfig, fetchStatus, startRootConfig } from './lib/reload-config.ts';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '10' },
    gap: { type: 'string', default: '1000' },
    poll: { type: 'string', default: '2' },
  },
});
const CHANGES = Number(values.changes);
const GAP_MS = Number(values.gap);
const POLL_MS = Number(values.poll);
if (!(CHANGES >= 1 && GAP_MS >= 0 && POLL_MS >= 0 && POLL_MS <= 5))
  throw new Error('--changes ≥ 1, --gap ≥ 0 and --poll between 0 and 5 ms');

const DEADLINE_MS = 10_000;
const REPOSITORIES_LINE = 'repositories: [';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The root config with one more hosted repository `name` at the top of its list. */
function withRepository(base: string, name: string): string {
  if (!base.includes(REPOSITORIES_LINE)) throw new Error(`the root config has no \`${REPOSITORIES_LINE}\` line`);
  return base.replace(
    REPOSITORIES_LINE,
    `${REPOSITORIES_LINE}\n    { name: '${name}', type: 'hosted', anonymous: ['pull', 'push'] },`,
  );
}

const tmp = new TmpDirs();
const root = await tmp.make('regctl-bench-reload-latency-');
const { regctl, url, configFile, text: base } = await startRootConfig(root, 'info');
try {
  const figures: number[] = [];
  let current = (await fetchStatus(url)).planId;
  await sleep(GAP_MS);
  for (let n = 1; n <= CHANGES; n += 1) {
    const added = n % 2 === 1 ? `bench${n}` : undefined;
    const text = added === undefined ? base : withRepository(base, added);
    const { status, elapsedMs: elapsed } = await changeConfig(url, configFile, text, current, {
      pollMs: POLL_MS,
      deadlineMs: DEADLINE_MS,
    });
    if (added !== undefined) {
      const res = await fetch(`${url}/v2/${added}/img/blobs/uploads/`, { method: 'POST' });
      await res.arrayBuffer();
      if (res.status !== 401 && res.status !== 202) throw new Error(`repository ${added} answers ${res.status}`);
    }
    figures.push(elapsed);
    current = status.planId;
    console.log(`change ${String(n).padStart(2)} (${added ? `+ ${added}` : '- again'}): ${elapsed.toFixed(1)} ms`);
    await sleep(GAP_MS);
  }
  const worst = Math.max(...figures);
  const sorted = [...figures].sort((a, b) => a - b);
  console.log(
    `reload latency, write → new plan serving, ${CHANGES} changes, ${GAP_MS} ms apart: ` +
      `median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} ms, worst ${worst.toFixed(1)} ms ` +
      `(target ≤ 300 ms) ${worst <= 300 ? 'ok' : 'MISSED'}`,
  );
  const durations = regctl
    .log()
    .split('\n')
    .filter((line) => line.includes('"msg":"reloaded"'))
    .map((line) => (JSON.parse(line) as { durationMs: number }).durationMs);
  console.log(`  the reloads themselves (server's durationMs): ${durations.map((d) => d.toFixed(0)).join(', ')} ms`);
} finally {
  await regctl.stop();
  await tmp.cleanup();
}
