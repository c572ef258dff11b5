import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS, UsageError } from '../io.ts';

const OPTIONS = {
  ...TARGET_OPTIONS,
  list: { type: 'string' },
  concurrency: { type: 'string', default: '4' },
  platform: { type: 'string' },
  all: { type: 'boolean', default: false },
} as const;

export const warm: Command = {
  name: 'warm',
  help: `Usage: regctl warm [--config PATH] [--registry URL] [--list FILE] [--concurrency N] [--platform OS/ARCH] [--all] [IMAGE…]

Pulls images through the registry so proxy caches hold them.
  --registry URL  the registry to pull from (default: the first listener of the config)
  --list FILE     one image reference per line (name[:tag|@digest]; # comments)
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials for the registry being warmed (both, or neither
                                     for anonymous pulls); a registry that refuses them, or that
                                     requires them when unset, is reported as such
Exit: 0 every image warmed, 1 some failed (each with its reason), 2 bad usage (also: nothing to warm).`,
  options: OPTIONS,
  positionals: 'none',
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new UsageError('--concurrency must be a positive integer');
    const client = await import('../../client/warm.ts');
    const result = await client
      .warm({
        configPath: values.config,
        registry: values.registry,
        list: values.list,
        concurrency,
        platform: values.platform,
        all: values.all,
        images: positionals,
      })
      .catch(asUsageError);
    return result.failed.length > 0 ? 1 : 0;
  },
};
