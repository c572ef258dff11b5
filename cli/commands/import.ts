import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS, UsageError } from '../io.ts';

const OPTIONS = { ...TARGET_OPTIONS, json: { type: 'boolean', default: false } } as const;

export const importCommand: Command = {
  name: 'import',
  help: `Usage: regctl import BUNDLE.tar|- [--registry URL | --config PATH] [--json]

Pushes every image of a bundle written by \`regctl export\` into a running registry, under the
names it was exported from. Every blob and manifest is checked against its digest while the tar is
read; a bundle that does not match is refused, naming the entry, and no image of it is tagged.
What the registry already has is skipped, so running it again uploads nothing. - reads stdin
(regctl export -o - … | regctl import -): the tar is read once, front to back.
  --registry URL  the registry to push to (default: the first listener of the config)
  --json          machine-readable output
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials with push access (both, or neither)
Exit: 0 imported, 1 the bundle was refused or the registry failed, 2 bad usage.`,
  options: OPTIONS,
  positionals: 'files',
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
    if (positionals.length !== 1) throw new UsageError('name one BUNDLE.tar to import');
    const client = await import('../../client/import.ts');
    const summary = await client
      .importBundle({ configPath: values.config, registry: values.registry, bundle: positionals[0] as string })
      .catch(asUsageError);
    if (values.json) io.stdout(JSON.stringify(summary, null, 2));
    else for (const line of client.formatImportSummary(summary)) io.stdout(line);
    return 0;
  },
};
