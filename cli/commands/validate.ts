import { parseArgs } from 'node:util';
import type { DiagnosticFormat } from '../../compiler/index.ts';
import { type Command, compiler, failureCode, UsageError } from '../io.ts';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  format: { type: 'string', default: 'text' },
  'strict-env': { type: 'boolean', default: false },
} as const;

export const validate: Command = {
  name: 'validate',
  help: `Usage: regctl validate [--config PATH] [--format text|json|github] [--strict-env]

Loads and checks the config: schema, then every semantic rule. All problems are reported.
  --config PATH   config file (default: registry.config.{ts,mts,js,mjs,json,yaml,yml} in the current folder)
  --format F      text (default), json, or github (workflow commands shown inline on pull requests)
  --strict-env    an environment variable the config references but that is unset (or empty) is an
                  error, not a warning: for the job or machine that has the registry's environment
Exit: 0 valid (warnings allowed), 1 invalid, 2 could not load.`,
  options: OPTIONS,
  choices: { format: ['text', 'json', 'github'] },
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    const format = values.format as DiagnosticFormat;
    if (!['text', 'json', 'github'].includes(format)) throw new UsageError(`unknown format "${format}"`);
    const started = performance.now();
    const { buildPlan, formatDiagnostics } = await compiler();
    const result = await buildPlan({ configPath: values.config, env: process.env, strictEnv: values['strict-env'] });
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
  },
};
