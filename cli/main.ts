/**
 * regctl: the command line. Thin by design: it parses arguments, calls the compiler, the runtime
 * or a client, prints, and picks the exit code (see io.ts). One file per command under commands/;
 * each command's module is imported only when it runs, and imports what it needs lazily.
 */
import { type CliIo, type Command, processIo, UsageError } from './io.ts';
import { formatVersion, readPackageVersion } from './version.ts';

/** Every command, in the order the main help lists them. Each is loaded only when run. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  validate: {
    summary: 'check a config (exit 0 valid, 1 invalid, 2 could not load)',
    load: async () => (await import('./commands/validate.ts')).validate,
  },
  plan: {
    summary: 'print the compiled routing plan, or diff it against another config or git revision',
    load: async () => (await import('./commands/plan.ts')).plan,
  },
  schema: {
    summary: 'print the JSON Schema of the config',
    load: async () => (await import('./commands/schema.ts')).schema,
  },
  serve: { summary: 'run the registry', load: async () => (await import('./commands/serve.ts')).serve },
  warm: { summary: 'pre-fetch images into proxy caches', load: async () => (await import('./commands/warm.ts')).warm },
  export: {
    summary: 'write images of a running registry into an air-gap bundle (OCI layout tar)',
    load: async () => (await import('./commands/export.ts')).exportCommand,
  },
  import: {
    summary: 'push every image of an air-gap bundle into a running registry',
    load: async () => (await import('./commands/import.ts')).importCommand,
  },
  gc: {
    summary: 'collect garbage in every blob store (online; --dry-run to only report)',
    load: async () => (await import('./commands/gc.ts')).gc,
  },
  usage: {
    summary: 'bytes and blobs per blob store and per repository',
    load: async () => (await import('./commands/usage.ts')).usage,
  },
  ls: {
    summary: 'list the repositories, images and tags of a running registry, with sizes',
    load: async () => (await import('./commands/ls.ts')).ls,
  },
  rm: {
    summary: 'delete a tag or a manifest in a running registry',
    load: async () => (await import('./commands/rm.ts')).rm,
  },
  status: {
    summary: "show a running registry's plan, last reload and upstreams (exit 1: last reload failed)",
    load: async () => (await import('./commands/status.ts')).status,
  },
  passwd: {
    summary: 'print a bcrypt hash of a password read from stdin, for the config',
    load: async () => (await import('./commands/passwd.ts')).passwd,
  },
  completion: {
    summary: 'print a shell completion script (bash, zsh or fish)',
    load: async () => (await import('./commands/completion.ts')).completion,
  },
};

/** Every command with its summary, loaded (for shell completion). */
export async function loadCommands(): Promise<{ summary: string; command: Command }[]> {
  return Promise.all(
    Object.values(COMMANDS).map(async (entry) => ({ summary: entry.summary, command: await entry.load() })),
  );
}

/** The names of the commands (for shell completion). */
export const COMMAND_NAMES = Object.keys(COMMANDS);

function mainHelp(): string {
  const width = Math.max(...COMMAND_NAMES.map((n) => n.length)) + 3;
  const lines = COMMAND_NAMES.map((name) => `  ${name.padEnd(width)}${COMMANDS[name]!.summary}`);
  return `regctl: a declarative container registry

Usage: regctl <command> [options]
       regctl --version

Commands:
${lines.join('\n')}

Run \`regctl <command> --help\` for the options of a command.`;
}

/** Runs the CLI; resolves to the exit code, or -1 when the process must stay alive (serve). */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(formatVersion(await readPackageVersion()));
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      io.stderr(`regctl: no command given\n\n${mainHelp()}`);
      return 2;
    }
    io.stdout(mainHelp());
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(`regctl: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (cause instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      io.stderr(`regctl: ${(cause as Error).message}\n\n${command.help}`);
      return 2;
    }
    // A message, not a stack: what failed is the command's input (a file, a URL), not regctl.
    io.stderr(`regctl ${name}: ${cause instanceof Error ? cause.message : String(cause)}`);
    if (process.env.REGCTL_DEBUG) io.stderr(String((cause as Error).stack));
    return 1;
  }
}
