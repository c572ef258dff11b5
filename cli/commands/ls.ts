import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS, UsageError } from '../io.ts';

const OPTIONS = { ...TARGET_OPTIONS, json: { type: 'boolean', default: false } } as const;

export const ls: Command = {
  name: 'ls',
  help: `Usage: regctl ls [REPOSITORY] [--registry URL | --config PATH] [--json]

Lists what a running registry stores: for each hosted repository (or REPOSITORY) the credentials
may pull from, its images, their tags with digest, size and when each was last pulled ("never", or
a UTC time recorded at most hourly), and each repository's total (blobs shared by tags counted
once). Listing is not a pull. Proxy and group repositories are not listed (a proxy's tags would be
asked of its remote).
  --registry URL  the registry (default: the first listener of the config)
  --json          machine-readable output
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials (both, or neither for anonymous access)
Exit: 0 listed, 1 the registry could not be read, 2 bad usage.`,
  options: OPTIONS,
  positionals: 'none',
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
    if (positionals.length > 1) throw new UsageError('at most one REPOSITORY');
    const { formatInventory, listRegistry } = await import('../../client/inventory.ts');
    const inventory = await listRegistry({
      registry: values.registry,
      configPath: values.config,
      repository: positionals[0],
    }).catch(asUsageError);
    io.stdout(values.json ? JSON.stringify(inventory, null, 2) : formatInventory(inventory));
    return 0;
  },
};
