import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS } from '../io.ts';

const OPTIONS = { ...TARGET_OPTIONS, json: { type: 'boolean', default: false } } as const;

export const status: Command = {
  name: 'status',
  help: `Usage: regctl status [--registry URL | --config PATH] [--json]

Shows a running registry's state (GET /-/status): the serving plan and its git revision, whether
it is the config on disk, the last reload and why it failed, listeners, repositories, and each
proxy's upstream health.
  --registry URL  the registry (default: the first listener of the config)
  --json          the /-/status document as it is
Exit: 0 serving the config on disk, 1 the last reload failed (the previous plan still serves) or
the registry could not be reached, 2 bad usage.`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    const { describeRegistryFailure, openRegistryClient, resolveCredentials, resolveRegistry } = await import(
      '../../client/target.ts'
    );
    const { formatStatusReport } = await import('../../client/status-report.ts');
    const target = { registry: values.registry, configPath: values.config };
    const registry = await resolveRegistry(target).catch(asUsageError);
    const credentials = (() => {
      try {
        return resolveCredentials(target);
      } catch (cause) {
        return asUsageError(cause);
      }
    })();
    const client = openRegistryClient(registry, credentials, 10_000);
    let text: string;
    try {
      const response = await client.request({ method: 'GET', path: '-/status' });
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
      if (response.status !== 200) throw new Error(`GET ${registry}/-/status answered ${response.status}`);
    } catch (cause) {
      throw new Error(describeRegistryFailure(cause, registry, credentials), { cause });
    } finally {
      await client.close();
    }
    const document = JSON.parse(text);
    const report = formatStatusReport(document, registry);
    io.stdout(values.json ? JSON.stringify(document, null, 2) : report.text);
    return report.failed ? 1 : 0;
  },
};
