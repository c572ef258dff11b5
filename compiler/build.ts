/**
 * load → validate → compile: the one path from a config file to a plan.
 */
import { dirname } from 'node:path';
import { checkConfig } from './check.ts';
import { compilePlan } from './compile.ts';
import { type Diagnostic, hasErrors } from './diagnostics.ts';
import { type Locate, loadConfig } from './load.ts';
import { createTsLocator } from './locate-ts.ts';
import type { Plan } from './plan.ts';
import { readPrefetchLists } from './prefetch-lists.ts';

export interface BuildOptions {
  /** Explicit config file; otherwise `registry.config.*` is searched in `cwd`. */
  configPath?: string;
  cwd?: string;
  /**
   * The environment the plan will run in: when given, env references it does not define are
   * reported (`env-unset`: warnings, or errors with `strictEnv`). The plan itself only ever holds
   * the references.
   */
  env?: NodeJS.ProcessEnv;
  /** With `env`: unset references are errors, not warnings (`regctl validate --strict-env`). */
  strictEnv?: boolean;
  /**
   * Folder that relative paths in the config resolve against (default: the config file's folder).
   * Set when compiling a copy of a config (e.g. a git revision extracted to a temp dir) so its plan
   * is comparable with the original's.
   */
  baseDir?: string;
  /**
   * Place the diagnostics of a TS/JS config at line:column (default true). That loads the
   * TypeScript parser, ≈ 50 MiB that a long-running process never gets back (an ES module cannot
   * be unloaded, and a worker thread's heap stays with the process's allocator after it exits:
   * both measured). `'failed'` places them only when the build fails, when the caller is about to
   * stop anyway: `serve` at startup, `regctl gc` and `usage` (whose pass would carry the parser to
   * its end), and the reload's evaluator (a child process that exits after one build). A valid
   * config's warnings then keep their config paths.
   */
  positions?: boolean | 'failed';
  /**
   * Told the config's files (what {@link BuildResult} `files` will be) as soon as a TS/JS config
   * is bundled, before it is evaluated: the reload's evaluator keeps watching the right files even
   * when the config then never finishes.
   */
  onFiles?: (files: string[]) => void;
}

/**
 * Result of {@link buildPlan}. `files` is the config and every local module it imports (for the
 * watcher), also on failure. `stage` says where a failure happened: `load` (file missing,
 * unreadable, syntax or import error: the CLI exits 2) or `check` (invalid config: exit 1).
 */
export type BuildResult =
  | { ok: true; plan: Plan; configPath: string; files: string[]; diagnostics: Diagnostic[] }
  | { ok: false; stage: 'load' | 'check'; configPath?: string; files: string[]; diagnostics: Diagnostic[] };

/** Loads (fresh, never from a module cache), validates and compiles a config. Never throws. */
export async function buildPlan(options: BuildOptions = {}): Promise<BuildResult> {
  if (options.positions !== 'failed') return build(options);
  const built = await build({ ...options, positions: false });
  if (built.ok || built.configPath === undefined) return built;
  return { ...built, diagnostics: await locateDiagnostics(built.configPath, built.diagnostics) };
}

async function build(options: BuildOptions): Promise<BuildResult> {
  const loaded = await loadConfig(options);
  if (!loaded.ok) return { ...loaded, stage: 'load' };
  const { configPath } = loaded;
  let { files } = loaded;
  const configDir = options.baseDir ?? dirname(configPath);
  const checked = checkConfig(loaded.value, { configDir, env: options.env, strictEnv: options.strictEnv });
  const diagnostics =
    options.positions === false || !/\.[cm]?[jt]s$/.test(configPath)
      ? placeAll(checked.diagnostics, configPath, loaded.locate)
      : await locateDiagnostics(configPath, checked.diagnostics);
  if (checked.config === null || hasErrors(diagnostics))
    return { ok: false, stage: 'check', configPath, files, diagnostics };
  const prefetch = await readPrefetchLists(checked.config, configDir);
  files = [...files, ...prefetch.files];
  if (prefetch.diagnostics.length > 0) {
    diagnostics.push(...placeAll(prefetch.diagnostics, configPath, loaded.locate));
    if (hasErrors(prefetch.diagnostics)) return { ok: false, stage: 'check', configPath, files, diagnostics };
  }
  try {
    const plan = compilePlan(checked.config, { configDir, prefetchLists: prefetch.lists });
    return { ok: true, plan, configPath, files, diagnostics };
  } catch (cause) {
    const message = `internal compiler error: ${cause instanceof Error ? cause.message : String(cause)}`;
    return {
      ok: false,
      stage: 'check',
      configPath,
      files,
      diagnostics: [...diagnostics, { code: 'compile-failed', severity: 'error', path: [], message, file: configPath }],
    };
  }
}

/**
 * Places diagnostics of a TS/JS config at line:column with the TypeScript parser (see
 * {@link BuildOptions.positions} for its cost); without TypeScript they keep only their paths.
 */
export async function locateDiagnostics(configPath: string, diagnostics: readonly Diagnostic[]): Promise<Diagnostic[]> {
  if (diagnostics.length === 0) return [];
  const locate = (await createTsLocator(configPath)) ?? noLocation;
  return placeAll(diagnostics, configPath, locate);
}

const noLocation: Locate = () => undefined;

/** Sets `file` (and line:column where `locate` knows them), in file order when positions are known. */
function placeAll(diagnostics: readonly Diagnostic[], file: string, locate: Locate): Diagnostic[] {
  // Stable: diagnostics at the same position keep rule order.
  return diagnostics
    .map((d) => place(d, file, locate))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function place(d: Diagnostic, file: string, locate: Locate): Diagnostic {
  const position = locate(d.path);
  return position === undefined ? { ...d, file } : { ...d, file, line: position.line, column: position.column };
}
