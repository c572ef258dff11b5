import { parseArgs } from 'node:util';
import { type Command, compiler, failureCode } from '../io.ts';

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
    const { buildPlan, formatDiagnostics } = await compiler();
    const built = await buildPlan({ configPath: values.config });
    if (!built.ok) {
      io.stderr(formatDiagnostics(built.diagnostics, 'text'));
      return failureCode(built);
    }
    const { openPlanStores } = await import('../../runtime/storage/index.ts');
    const { collectPlan } = await import('../../runtime/gc/run.ts');
    const { formatGcReport } = await import('../../runtime/gc/format-report.ts');
    const stores = await openPlanStores(built.plan, { env: process.env });
    try {
      const reports = await collectPlan(built.plan, stores, { dryRun: values['dry-run'] });
      io.stdout(values.json ? JSON.stringify(reports, null, 2) : reports.map(formatGcReport).join('\n'));
    } finally {
      for (const store of stores.values()) await store.close();
    }
    return 0;
  },
};
