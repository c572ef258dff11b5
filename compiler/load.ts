/**
 * Finding and loading a config file: the first of `registry.config.{ts,mts,js,mjs,json,yaml,yml}`
 * in `cwd`, or `configPath`. Loading goes through a cosmiconfig explorer (the design's loader:
 * it reads the file, treats an empty one as empty and picks the loader by extension) whose
 * loaders are ours, because a load yields more than a value: the files to watch, and positions.
 * TS/JS configs are imported by `importConfigModule` (one esbuild bundle per call, so a reload
 * sees edits to the config and to everything it imports, and its metafile lists the local files
 * for the watcher; no loader hooks). JSON/YAML are parsed with `yaml`, keeping the document so
 * diagnostics can point at line:column. cosmiconfig's own caches are off: every load is fresh.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import type { Document, LineCounter } from 'yaml';
import { type Diagnostic, type DiagnosticPath, error } from './diagnostics.ts';
import { ConfigImportError, type ImportedConfig, importConfigModule } from './import-config.ts';

/** The file names searched, in order. */
export const CONFIG_FILE_NAMES = [
  'registry.config.ts',
  'registry.config.mts',
  'registry.config.js',
  'registry.config.mjs',
  'registry.config.json',
  'registry.config.yaml',
  'registry.config.yml',
] as const;

/** Maps a config path to a 1-based line:column, when the format keeps positions. */
export type Locate = (path: DiagnosticPath) => { line: number; column: number } | undefined;

export type LoadResult =
  | { ok: true; value: unknown; configPath: string; files: string[]; locate: Locate }
  | { ok: false; configPath?: string; files: string[]; diagnostics: Diagnostic[] };

export interface LoadOptions {
  configPath?: string;
  cwd?: string;
  /** Told the files of a TS/JS config as soon as they are known, before it is evaluated. */
  onFiles?: (files: string[]) => void;
}

const noLocation: Locate = () => undefined;
/** Where the config file is, or why there is none. */
export type ConfigFileResult = { ok: true; configPath: string } | { ok: false; diagnostics: Diagnostic[] };

/**
 * The config file `loadConfig` would load: `configPath` resolved against `cwd`, or the first of
 * {@link CONFIG_FILE_NAMES} in `cwd`. Checks that it is a file; does not read it.
 */
export function findConfigFile(options: LoadOptions = {}): ConfigFileResult {
  const cwd = resolve(options.cwd ?? process.cwd());
  if (options.configPath === undefined) {
    const name = CONFIG_FILE_NAMES.find((candidate) =>
      statSync(join(cwd, candidate), { throwIfNoEntry: false })?.isFile(),
    );
    if (name !== undefined) return { ok: true, configPath: join(cwd, name) };
    const hint = `create one of ${CONFIG_FILE_NAMES.join(', ')}, or pass --config PATH`;
    return { ok: false, diagnostics: [error('config-not-found', [], `no config file in ${cwd}`, hint)] };
  }
  const configPath = resolve(cwd, options.configPath);
  const stat = statSync(configPath, { throwIfNoEntry: false });
  if (stat === undefined)
    return { ok: false, diagnostics: [error('config-not-found', [], `config file ${configPath} does not exist`)] };
  if (!stat.isFile())
    return {
      ok: false,
      diagnostics: [
        error('config-not-found', [], `${configPath} is not a file`, 'pass the config file itself to --config'),
      ],
    };
  return { ok: true, configPath };
}

/** What our cosmiconfig loaders return: the whole result, not just the value. */
interface Loaded {
  readonly loaded: LoadResult;
}

const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;
const DOCUMENT_EXTENSIONS = ['.json', '.yaml', '.yml'] as const;

function createExplorer(onFiles?: (files: string[]) => void) {
  const moduleLoader: Loader = async (file): Promise<Loaded> => ({ loaded: await loadModule(file, onFiles) });
  const documentLoader: Loader = async (file, text): Promise<Loaded> => ({ loaded: await loadDocument(file, text) });
  return cosmiconfig('registry', {
    searchPlaces: [...CONFIG_FILE_NAMES],
    searchStrategy: 'none',
    cache: false,
    loaders: Object.fromEntries([
      ...MODULE_EXTENSIONS.map((ext) => [ext, moduleLoader] as const),
      ...DOCUMENT_EXTENSIONS.map((ext) => [ext, documentLoader] as const),
    ]),
  });
}

/** Loads the config value (not yet validated). Never throws: failures become diagnostics. */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadResult> {
  const found = findConfigFile(options);
  if (!found.ok) return { ok: false, files: [], diagnostics: found.diagnostics };
  const { configPath } = found;
  const failed = (text: string, hint?: string): LoadResult => ({
    ok: false,
    configPath,
    files: [configPath],
    diagnostics: [loadError([], text, configPath, hint)],
  });
  let result: Awaited<ReturnType<ReturnType<typeof createExplorer>['load']>>;
  try {
    result = await createExplorer(options.onFiles).load(configPath);
  } catch (cause) {
    // Only cosmiconfig's own failures land here (unreadable file, unknown extension): ours are results.
    const text = message(cause);
    if (/no loader specified/i.test(text))
      return failed(`unsupported config file extension of ${configPath}`, `name it ${CONFIG_FILE_NAMES.join(', ')}`);
    return failed(`could not read: ${text}`);
  }
  if (result === null || result.isEmpty)
    return failed('the config file is empty', 'export default defineConfig({ … })');
  return (result.config as Loaded).loaded;
}

function message(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function loadError(path: DiagnosticPath, text: string, file?: string, hint?: string): Diagnostic {
  const d = error('load-failed', path, text, hint);
  return file === undefined ? d : { ...d, file };
}

async function loadModule(configPath: string, onFiles?: (files: string[]) => void): Promise<LoadResult> {
  let imported: ImportedConfig;
  try {
    imported = await importConfigModule(configPath, onFiles ? { onFiles } : {});
  } catch (cause) {
    const files = cause instanceof ConfigImportError ? cause.files : [configPath];
    const location = cause instanceof ConfigImportError ? cause.location : undefined;
    const diagnostic = loadError([], `could not load: ${message(cause)}`, location?.file ?? configPath);
    return {
      ok: false,
      configPath,
      files,
      diagnostics: [location ? { ...diagnostic, line: location.line, column: location.column } : diagnostic],
    };
  }
  const { module, files } = imported;
  try {
    let value = module.default;
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (value === undefined) {
      return {
        ok: false,
        configPath,
        files,
        diagnostics: [
          loadError([], 'the config module has no default export', configPath, 'export default defineConfig({ … })'),
        ],
      };
    }
    return { ok: true, value, configPath, files, locate: noLocation };
  } catch (cause) {
    return {
      ok: false,
      configPath,
      files,
      diagnostics: [loadError([], `could not load: ${message(cause)}`, configPath)],
    };
  }
}

async function loadDocument(configPath: string, text: string): Promise<LoadResult> {
  // Loaded on demand: TS configs, the common case, do not pay for the YAML parser.
  const { LineCounter, parseDocument } = await import('yaml');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const diagnostics = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return {
        ...loadError([], `syntax error: ${e.message.split('\n')[0]}`, configPath),
        line: pos.line,
        column: pos.col,
      };
    });
    return { ok: false, configPath, files: [configPath], diagnostics };
  }
  return { ok: true, value: doc.toJS() ?? {}, configPath, files: [configPath], locate: locator(doc, lineCounter) };
}

/** The position of the deepest existing node along `path` (a missing key points at its parent). */
function locator(doc: Document, lineCounter: LineCounter): Locate {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
}
