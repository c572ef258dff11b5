import { parseArgs } from 'node:util';
import type { Command } from '../io.ts';

export const schema: Command = {
  name: 'schema',
  help: `Usage: regctl schema

Prints the JSON Schema of the config (also checked in as schema/config.schema.json).`,
  options: {},
  async run(args, io) {
    parseArgs({ args, options: {} });
    const { toConfigJsonSchema } = await import('../../schema/index.ts');
    io.stdout(JSON.stringify(toConfigJsonSchema(), null, 2));
    return 0;
  },
};
