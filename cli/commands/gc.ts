import { parseArgs } from 'node:util';
import type { Command } from '../io.ts';
import { withPlanStores } from '../plan-stores.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'dry-run': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

export const gc: Command = {
  name: 'gc',
  help: `Usage: regctl gc [--config PATH] [--dry-run] [--json]

Runs one garbage-collection pass over every blob store of the config: deletes the tags the
cleanup rules select, untagged manifests and unreferenced blobs older than gc.gracePeriod
(default 1h), and prints per store what it scanned, what it deleted and why, the bytes
reclaimed and the time taken. Safe while \`regctl serve\` runs on the same stores (one collector
per store at a time; a pass finding another one running is skipped). docs/gc.md explains it.
  --config PATH   config file (default: searched in the current folder)
  --dry-run       report what would be deleted; delete nothing
  --json          the reports as JSON
Exit: 0 done (or skipped), 1 invalid config or a store failed, 2 could not load.`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    return withPlanStores(values.config, io, async (plan, stores) => {
      const { collectPlan } = await import('../../runtime/gc/run.ts');
      const { formatGcReport } = await import('../../runtime/gc/format-report.ts');
      const reports = await collectPlan(plan, stores, { dryRun: values['dry-run'] });
      io.stdout(values.json ? JSON.stringify(reports, null, 2) : reports.map(formatGcReport).join('\n'));
      return 0;
    });
  },
};
