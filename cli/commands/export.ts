import { parseArgs } from 'node:util';
import { asUsageError, type Command, TARGET_OPTIONS, UsageError } from '../io.ts';

const OPTIONS = {
  ...TARGET_OPTIONS,
  output: { type: 'string', short: 'o' },
  list: { type: 'string' },
  platform: { type: 'string', multiple: true },
  referrers: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

export const exportCommand: Command = {
  name: 'export',
  help: `Usage: regctl export -o BUNDLE.tar [--config PATH] [--registry URL] [--list FILE] [--platform OS/ARCH[/VARIANT]]… [--referrers] [--json] [IMAGE…]

Writes images, as a running registry serves them, into an air-gap bundle: an OCI image layout tar
(index.json names each image) with a listing, regctl-bundle.json. Load it with \`regctl import\`, or
read it with any OCI tool (skopeo copy oci-archive:BUNDLE.tar:NAME:TAG …). Blobs are streamed, each
written once; the bundle appears only once complete.
  -o, --output FILE  the bundle to write; - for stdout (the listing then goes to stderr)
  --registry URL     the registry to read from (default: the first listener of the config)
  --list FILE        one image reference per line (name[:tag|@digest]; # comments), as for warm
  --platform P       keep only these platforms of each index (repeatable); an index that loses
                     entries is rewritten, so its digest in the bundle differs from the registry's
  --referrers        carry the referrers of every manifest (signatures, SBOMs)
  --json             print the listing as JSON instead of a table
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials for the registry (both, or neither)
Exit: 0 written, 1 an image could not be read (nothing written), 2 bad usage.`,
  options: OPTIONS,
  positionals: 'none',
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
    if (values.output === undefined) throw new UsageError('name the bundle to write with -o FILE (or -o - for stdout)');
    if (values.output === '-' && io.isTTY)
      throw new UsageError('-o - writes a tar to stdout, which is a terminal: redirect or pipe it');
    // With the tar on stdout, the listing goes to stderr.
    const print = values.output === '-' ? io.stderr : io.stdout;
    const client = await import('../../client/export.ts');
    const summary = await client
      .exportImages({
        configPath: values.config,
        registry: values.registry,
        output: values.output,
        list: values.list,
        images: positionals,
        platforms: values.platform,
        referrers: values.referrers,
      })
      .catch(asUsageError);
    if (values.json)
      print(JSON.stringify({ ...summary.listing, output: summary.output, bytes: summary.bytes }, null, 2));
    else for (const line of client.formatExportListing(summary)) print(line);
    return 0;
  },
};
