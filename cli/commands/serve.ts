import { parseArgs } from 'node:util';
import type { Command } from '../io.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  watch: { type: 'boolean', default: true },
  'watch-poll': { type: 'boolean', default: false },
} as const;

export const serve: Command = {
  name: 'serve',
  help: `Usage: regctl serve [--config PATH] [--watch | --no-watch] [--watch-poll]

Runs the registry described by the config; with --watch (the default), recompiles and swaps the
plan when the config or a file it imports changes. --watch-poll checks the files every second
instead of relying on change notifications (network file systems, some container volumes).`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, allowNegative: true, options: OPTIONS });
    const { serve, ServeError } = await import('../../runtime/server/serve.ts');
    try {
      await serve({ configPath: values.config, watch: values.watch, watchPolling: values['watch-poll'] });
    } catch (cause) {
      if (!(cause instanceof ServeError)) throw cause;
      // serve() printed the diagnostics; its error carries the code (2: could not load, 1: invalid or failed to start).
      io.stderr(`regctl serve: ${cause.message}`);
      return cause.exitCode;
    }
    return -1; // keep running: the server holds the process open
  },
};
