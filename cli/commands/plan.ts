import { parseArgs } from 'node:util';
import { type Command, compiler, failureCode, UsageError } from '../io.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean', default: false },
  format: { type: 'string' },
  diff: { type: 'boolean', default: false },
  against: { type: 'string' },
} as const;

const FORMATS = ['text', 'json', 'markdown'] as const;
type Format = (typeof FORMATS)[number];

export const plan: Command = {
  name: 'plan',
  help: `Usage: regctl plan [--config PATH] [--format text|json]
       regctl plan [--config PATH] --diff OTHER_CONFIG [--format text|json|markdown]
       regctl plan [--config PATH] --diff --against GIT_REV [--format text|json|markdown]

Prints the compiled plan (secrets redacted), or what changes from OTHER_CONFIG (or from the same
config as it is at GIT_REV, with the local files it imports) to the config: a summary line
("2 to add, 1 to change, 0 to destroy"), each change once, durations as written (24h), and the
warnings the reload would log (a repository removed, a store moved, a port changed).
  --config PATH   config file (default: searched in the current folder)
  --format F      text (default; coloured on a terminal unless NO_COLOR is set), json, or
                  markdown (for a pull-request comment; diffs only)
  --json          the same as --format json
Exit: 0 ok, 1 invalid config, 2 could not load.`,
  options: OPTIONS,
  choices: { format: FORMATS },
  positionals: 'files',
  async run(args, io) {
    const normalized = args.flatMap((a) => (a.startsWith('--diff=') ? ['--diff', a.slice(7)] : [a]));
    const { values, positionals } = parseArgs({ args: normalized, allowPositionals: true, options: OPTIONS });
    const format = (values.format ?? (values.json ? 'json' : 'text')) as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`unknown format "${format}"`);
    if (values.json && values.format !== undefined && values.format !== 'json')
      throw new UsageError('--json and --format disagree: give one of them');
    if (!values.diff && (positionals.length > 0 || values.against !== undefined)) {
      throw new UsageError('unexpected arguments: use --diff OTHER_CONFIG or --diff --against REV');
    }
    if (!values.diff && format === 'markdown') throw new UsageError('--format markdown is for diffs: add --diff');
    if (values.diff && (values.against === undefined) === (positionals.length !== 1)) {
      throw new UsageError('--diff needs exactly one of OTHER_CONFIG or --against REV');
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
      io.stdout(format === 'json' ? JSON.stringify(redactPlan(current.plan), null, 2) : formatPlan(current.plan));
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
    const { computeReloadWarnings } = await import('../../runtime/reload/warnings.ts');
    const warnings = computeReloadWarnings(base.plan, current.plan);
    if (format === 'json') {
      io.stdout(JSON.stringify({ ...diff, warnings }, null, 2));
      return 0;
    }
    const color = format === 'text' && io.isTTY && !process.env.NO_COLOR;
    io.stdout(formatPlanDiff(diff, { format, color, warnings }));
    return 0;
  },
};
