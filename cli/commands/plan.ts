import { parseArgs } from 'node:util';
import { type Command, compiler, failureCode, UsageError } from '../io.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean', default: false },
  diff: { type: 'boolean', default: false },
  against: { type: 'string' },
} as const;

export const plan: Command = {
  name: 'plan',
  help: `Usage: regctl plan [--config PATH] [--json]
       regctl plan [--config PATH] --diff OTHER_CONFIG [--json]
       regctl plan [--config PATH] --diff --against GIT_REV [--json]

Prints the compiled plan (secrets redacted), or what changes from OTHER_CONFIG (or from the same
config as it is at GIT_REV, with the local files it imports) to the config.
  --config PATH   config file (default: searched in the current folder)
  --json          machine-readable output
Exit: 0 ok, 1 invalid config, 2 could not load.`,
  options: OPTIONS,
  positionals: 'files',
  async run(args, io) {
    const normalized = args.flatMap((a) => (a.startsWith('--diff=') ? ['--diff', a.slice(7)] : [a]));
    const { values, positionals } = parseArgs({ args: normalized, allowPositionals: true, options: OPTIONS });
    if (!values.diff && (positionals.length > 0 || values.against !== undefined)) {
      throw new UsageError('unexpected arguments: use --diff OTHER_CONFIG or --diff --against REV');
    }
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
  },
};
