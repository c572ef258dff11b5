import { parseArgs } from 'node:util';
import type { Command } from '../io.ts';
import { withPlanStores } from '../plan-stores.ts';

const OPTIONS = { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } } as const;

export const usage: Command = {
  name: 'usage',
  help: `Usage: regctl usage [--config PATH] [--json]

Prints what every blob store of the config holds: its blobs and bytes, then each repository's
share, biggest first (a blob counts once per store, and once per repository however many of its
images link it). Reads the stores directly; safe while \`regctl serve\` runs.
  --config PATH   config file (default: searched in the current folder)
  --json          the figures as JSON
Exit: 0 ok, 1 invalid config or a store failed, 2 could not load.`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    return withPlanStores(values.config, io, async (_plan, stores) => {
      const { measureUsage } = await import('../../runtime/gc/usage.ts');
      const { formatBytes } = await import('../../runtime/gc/format-report.ts');
      const usages = [];
      for (const store of stores.values()) usages.push(await measureUsage(store));
      if (values.json) {
        io.stdout(JSON.stringify(usages, null, 2));
        return 0;
      }
      for (const usage of usages) {
        io.stdout(`blob store ${usage.store}: ${usage.blobs} blobs, ${formatBytes(usage.bytes)}`);
        const width = Math.max(10, ...usage.repositories.map((r) => r.repository.length));
        for (const r of usage.repositories) {
          io.stdout(
            `  ${r.repository.padEnd(width)}  ${r.kind.padEnd(6)}  ${formatBytes(r.bytes).padStart(10)}  ${String(r.blobs).padStart(7)} blobs  ${r.images} images`,
          );
        }
      }
      return 0;
    });
  },
};
