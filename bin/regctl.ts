/**
 * regctl: the command line. Thin by design: it parses arguments, calls the compiler or the
 * runtime, prints, and picks the exit code. Exit codes: 0 ok (warnings allowed), 1 invalid
 * config (or a failed command), 2 the config could not be loaded or the usage is wrong.
 */
import { parseArgs } from 'node:util';
import type { BuildResult, DiagnosticFormat } from '../compiler/index.ts';

/** The compiler, imported on demand so `--help` and `serve` start without it. */
const compiler = () => import('../compiler/index.ts');

const HELP: Record<string, string> = {
  main: `regctl: a declarative container registry

Usage: regctl <command> [options]

Commands:
  validate   check a config (exit 0 valid, 1 invalid, 2 could not load)
  plan       print the compiled routing plan, or diff it against another config or git revision
  schema     print the JSON Schema of the config
  serve      run the registry
  warm       pre-fetch images into proxy caches

Run \`regctl <command> --help\` for the options of a command.`,
  validate: `Usage: regctl validate [--config PATH] [--format text|json|github]

Loads and checks the config: schema, then every semantic rule. All problems are reported.
  --config PATH   config file (default: registry.config.{ts,mts,js,mjs,json,yaml,yml} in the current folder)
  --format F      text (default), json, or github (workflow commands shown inline on pull requests)
Exit: 0 valid (warnings allowed), 1 invalid, 2 could not load.`,
  plan: `Usage: regctl plan [--config PATH] [--json]
       regctl plan [--config PATH] --diff OTHER_CONFIG [--json]
       regctl plan [--config PATH] --diff --against GIT_REV [--json]

Prints the compiled plan (secrets redacted), or what changes from OTHER_CONFIG (or from the same
config as it is at GIT_REV, with the local files it imports) to the config.
  --config PATH   config file (default: searched in the current folder)
  --json          machine-readable output
Exit: 0 ok, 1 invalid config, 2 could not load.`,
  schema: `Usage: regctl schema

Prints the JSON Schema of the config (also checked in as schema/config.schema.json).`,
  serve: `Usage: regctl serve [--config PATH] [--watch | --no-watch] [--watch-poll]

Runs the registry described by the config; with --watch (the default), recompiles and swaps the
plan when the config or a file it imports changes. --watch-poll checks the files every second
instead of relying on change notifications (network file systems, some container volumes).`,
  warm: `Usage: regctl warm [--config PATH] [--registry URL] [--list FILE] [--concurrency N] [--platform OS/ARCH] [--all] [IMAGE…]

Pulls images through the registry so proxy caches hold them.
  --registry URL  the registry to pull from (default: the first listener of the config)
  --list FILE     one image reference per line (name[:tag|@digest]; # comments)
Environment:
  REGCTL_USERNAME, REGCTL_PASSWORD   credentials for the registry being warmed (both, or neither
                                     for anonymous pulls); a registry that refuses them, or that
                                     requires them when unset, is reported as such
Exit: 0 every image warmed, 1 some failed (each with its reason), 2 bad usage.`,
};

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };
const io: Out = {
  stdout: (s) => process.stdout.write(`${s}\n`),
  stderr: (s) => process.stderr.write(`${s}\n`),
};

function usageError(message: string, command: string): number {
  io.stderr(`regctl: ${message}\n\n${HELP[command] ?? HELP.main}`);
  return 2;
}

/** Exit code of a failed build: 2 when nothing could be loaded, 1 when the config is invalid. */
function failureCode(result: BuildResult): number {
  return !result.ok && result.stage === 'load' ? 2 : 1;
}

async function validate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, format: { type: 'string', default: 'text' } },
  });
  const format = values.format as DiagnosticFormat;
  if (!['text', 'json', 'github'].includes(format)) return usageError(`unknown format "${format}"`, 'validate');
  const started = performance.now();
  const { buildPlan, formatDiagnostics } = await compiler();
  const result = await buildPlan({ configPath: values.config });
  const elapsed = performance.now() - started;
  if (format === 'json') {
    io.stdout(
      JSON.stringify(
        {
          ok: result.ok,
          configPath: result.configPath ?? null,
          planId: result.ok ? result.plan.id : null,
          diagnostics: result.diagnostics,
        },
        null,
        2,
      ),
    );
  } else if (format === 'github') {
    if (result.diagnostics.length > 0) io.stdout(formatDiagnostics(result.diagnostics, 'github'));
  } else {
    if (result.diagnostics.length > 0) io.stdout(formatDiagnostics(result.diagnostics, 'text'));
    if (result.ok)
      io.stdout(`${result.configPath}: valid (plan ${result.plan.id.slice(0, 12)}, ${elapsed.toFixed(0)} ms)`);
  }
  return result.ok ? 0 : failureCode(result);
}

async function plan(args: string[]): Promise<number> {
  const normalized = args.flatMap((a) => (a.startsWith('--diff=') ? ['--diff', a.slice(7)] : [a]));
  const { values, positionals } = parseArgs({
    args: normalized,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
      diff: { type: 'boolean', default: false },
      against: { type: 'string' },
    },
  });
  if (!values.diff && (positionals.length > 0 || values.against !== undefined)) {
    return usageError('unexpected arguments: use --diff OTHER_CONFIG or --diff --against REV', 'plan');
  }
  if (values.diff && (values.against === undefined) === (positionals.length !== 1)) {
    return usageError('--diff needs exactly one of OTHER_CONFIG or --against REV', 'plan');
  }
  const { buildPlan, buildPlanAtRevision, diffPlans, formatDiagnostics, formatPlan, formatPlanDiff, redactPlan } =
    await compiler();
  const current = await buildPlan({ configPath: values.config });
  if (!current.ok) {
    io.stderr(formatDiagnostics(current.diagnostics, 'text'));
    return failureCode(current);
  }
  // Warnings go to stderr so that stdout stays the plan (or the diff) alone.
  if (current.diagnostics.length > 0) io.stderr(formatDiagnostics(current.diagnostics, 'text'));
  if (!values.diff) {
    io.stdout(values.json ? JSON.stringify(redactPlan(current.plan), null, 2) : formatPlan(current.plan));
    return 0;
  }
  const base =
    values.against !== undefined
      ? await buildPlanAtRevision({ configPath: current.configPath, rev: values.against })
      : await buildPlan({ configPath: positionals[0] });
  if (!base.ok) {
    const what = base.stage === 'load' ? 'could not load the base of the diff' : 'the base of the diff is not valid';
    io.stderr(`regctl: ${what}:\n${formatDiagnostics(base.diagnostics, 'text')}`);
    return failureCode(base);
  }
  const diff = diffPlans(base.plan, current.plan);
  io.stdout(values.json ? JSON.stringify(diff, null, 2) : formatPlanDiff(diff));
  return 0;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowNegative: true,
    options: {
      config: { type: 'string', short: 'c' },
      watch: { type: 'boolean', default: true },
      'watch-poll': { type: 'boolean', default: false },
    },
  });
  const { serve, ServeError } = await import('../runtime/server/serve.ts');
  try {
    await serve({ configPath: values.config, watch: values.watch, watchPolling: values['watch-poll'] });
  } catch (cause) {
    if (!(cause instanceof ServeError)) throw cause;
    // serve() printed the diagnostics; its error carries the code (2: could not load, 1: invalid or failed to start).
    io.stderr(`regctl serve: ${cause.message}`);
    return cause.exitCode;
  }
  return -1; // keep running: the server holds the process open
}

async function warm(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      registry: { type: 'string' },
      list: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      platform: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
  });
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    return usageError('--concurrency must be a positive integer', 'warm');
  const { warm } = await import('../client/warm.ts');
  const result = await warm({
    configPath: values.config,
    registry: values.registry,
    list: values.list,
    concurrency,
    platform: values.platform,
    all: values.all,
    images: positionals,
  });
  return result.failed.length > 0 ? 1 : 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  validate,
  plan,
  schema: async (args) => {
    parseArgs({ args, options: {} });
    const { toConfigJsonSchema } = await import('../schema/index.ts');
    io.stdout(JSON.stringify(toConfigJsonSchema(), null, 2));
    return 0;
  },
  serve,
  warm,
};

/** Runs the CLI; resolves to the exit code, or -1 when the process must stay alive (serve). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command === undefined) return usageError('no command given', 'main');
    io.stdout(HELP.main!);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) return usageError(`unknown command "${command}"`, 'main');
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(HELP[command]!);
    return 0;
  }
  try {
    return await run(rest);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
      return usageError((cause as Error).message, command);
    // A message, not a stack: what failed is the command's input (a file, a URL), not regctl.
    io.stderr(`regctl ${command}: ${cause instanceof Error ? cause.message : String(cause)}`);
    if (process.env.REGCTL_DEBUG) io.stderr(String((cause as Error).stack));
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
