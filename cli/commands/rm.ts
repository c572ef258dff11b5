import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS, UsageError } from '../io.ts';

export const rm: Command = {
  name: 'rm',
  help: `Usage: regctl rm REPOSITORY/IMAGE:TAG | REPOSITORY/IMAGE@DIGEST [--registry URL | --config PATH]

Deletes a tag (the manifest stays, by digest and under its other tags), or a manifest by digest
(with every tag that points at it), in a running registry, through its API: its access rules and
deployment policy apply (disableRedeploy refuses to delete a tag). REPOSITORY is the regctl
repository, as \`regctl ls\` prints it. Blobs are freed by garbage collection, not here.
  --registry URL  the registry (default: the first listener of the config)
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials of a user allowed to delete
Exit: 0 removed, 1 the registry refused or could not be reached, 2 bad usage.`,
  options: TARGET_OPTIONS,
  positionals: 'none',
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: TARGET_OPTIONS });
    if (positionals.length !== 1)
      throw new UsageError('name exactly one REPOSITORY/IMAGE:TAG or REPOSITORY/IMAGE@DIGEST');
    const { parseRemoveTarget, removeReference } = await import('../../client/remove.ts');
    const target = (() => {
      try {
        return parseRemoveTarget(positionals[0]!);
      } catch (cause) {
        return asUsageError(cause);
      }
    })();
    const removed = await removeReference(target, { registry: values.registry, configPath: values.config }).catch(
      asUsageError,
    );
    const what =
      removed.kind === 'tag' ? `tag ${removed.reference} of` : `manifest ${removed.reference} (and its tags) of`;
    io.stdout(`removed ${what} ${removed.image} in ${removed.repository}`);
    return 0;
  },
};
