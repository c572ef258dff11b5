import { getPriority, setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../io.ts';
import { withPlanStores } from '../plan-stores.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'dry-run': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  nice: { type: 'string', default: '10' },
} as const;

/**
 * Lowers this process's CPU priority by `increment` (POSIX niceness, at most 19): a pass is
 * background work, and on a machine that also runs `regctl serve` it must not take the server's
 * CPU (serving p99 during a pass: docs/benchmarks.md). Raising it back needs privileges nobody
 * should give a GC, so only lowering is offered. Where the OS refuses, the pass runs as it is.
 */
export function lowerPriority(increment: number): void {
  if (increment === 0) return;
  try {
    setPriority(Math.min(19, getPriority() + increment));
  } catch {
    // not permitted here (a sandbox): priority unchanged
  }
}

export const gc: Command = {
  name: 'gc',
  help: `Usage: regctl gc [--config PATH] [--dry-run] [--json] [--nice N]

Runs one garbage-collection pass over every blob store of the config: deletes the tags the
cleanup rules select, untagged manifests and unreferenced blobs older than gc.gracePeriod
(default 1h), and prints per store what it scanned, what it deleted and why, the bytes
reclaimed and the time taken. Safe while \`regctl serve\` runs on the same stores (one collector
per store at a time; a pass finding another one running is skipped). docs/gc.md explains it.
  --config PATH   config file (default: searched in the current folder)
  --dry-run       report what would be deleted; delete nothing
  --json          the reports as JSON
  --nice N        lower the pass's CPU priority by N (0-19, default 10), so that a registry
                  serving on the same machine keeps the CPU it needs; 0 leaves it as it is
Exit: 0 done (or skipped), 1 invalid config or a store failed, 2 could not load.`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    const nice = Number(values.nice);
    if (!/^\d+$/.test(values.nice) || nice > 19) throw new UsageError(`--nice takes 0 to 19, not ${values.nice}`);
    lowerPriority(nice);
    return withPlanStores(values.config, io, async (plan, stores) => {
      const { collectPlan } = await import('../../runtime/gc/run.ts');
      const { formatGcReport } = await import('../../runtime/gc/format-report.ts');
      const reports = await collectPlan(plan, stores, { dryRun: values['dry-run'] });
      io.stdout(values.json ? JSON.stringify(reports, null, 2) : reports.map(formatGcReport).join('\n'));
      return 0;
    });
  },
};
