/**
 * Finding and loading a config file. cosmiconfig finds `registry.config.{ts,mts,js,mjs,json,yaml,yml}`
 * in `cwd` (or takes `configPath`). TS/JS configs are imported with tsx's `tsImport`, which gives
 * every call its own module namespace: a reload sees edits to the config and to everything it
 * imports, and the imported local files are reported for the watcher. JSON/YAML are parsed with
 * `yaml`, keeping the document so diagnostics can point at line:column.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cosmiconfig } from 'cosmiconfig';
import { tsImport } from 'tsx/esm/api';
import type { Document, LineCounter } from 'yaml';
import { type Diagnostic, type DiagnosticPath, error } from './diagnostics.ts';

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
}

const noLocation: Locate = () => undefined;
/** cosmiconfig loader stub: it only finds the file, which is then loaded fresh by this module. */
const found = () => ({ found: true });

/** Loads the config value (not yet validated). Never throws: failures become diagnostics. */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadResult> {
  const cwd = resolve(options.cwd ?? process.cwd());
  let configPath: string | undefined;
  if (options.configPath !== undefined) {
    configPath = resolve(cwd, options.configPath);
  } else {
    const explorer = cosmiconfig('registry', {
      searchPlaces: [...CONFIG_FILE_NAMES],
      searchStrategy: 'none',
      cache: false,
      ignoreEmptySearchPlaces: false,
      loaders: Object.fromEntries(['.ts', '.mts', '.js', '.mjs', '.json', '.yaml', '.yml'].map((ext) => [ext, found])),
    });
    try {
      const found = await explorer.search(cwd);
      configPath = found?.filepath;
    } catch (cause) {
      return { ok: false, files: [], diagnostics: [loadError([], `could not search for a config: ${message(cause)}`)] };
    }
    if (configPath === undefined) {
      const hint = `create one of ${CONFIG_FILE_NAMES.join(', ')}, or pass --config PATH`;
      return { ok: false, files: [], diagnostics: [error('config-not-found', [], `no config file in ${cwd}`, hint)] };
    }
  }
  if (!existsSync(configPath)) {
    return {
      ok: false,
      files: [],
      diagnostics: [error('config-not-found', [], `config file ${configPath} does not exist`)],
    };
  }
  const ext = extname(configPath);
  if (['.json', '.yaml', '.yml'].includes(ext)) return loadDocument(configPath);
  if (['.ts', '.mts', '.js', '.mjs', '.cts', '.cjs'].includes(ext)) return loadModule(configPath);
  return {
    ok: false,
    configPath,
    files: [configPath],
    diagnostics: [loadError([], `unsupported config file extension "${ext}"`, configPath)],
  };
}

function message(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function loadError(path: DiagnosticPath, text: string, file?: string, hint?: string): Diagnostic {
  const d = error('load-failed', path, text, hint);
  return file === undefined ? d : { ...d, file };
}

async function loadModule(configPath: string): Promise<LoadResult> {
  const files = new Set<string>([configPath]);
  const onImport = (url: string) => {
    if (!url.startsWith('file:')) return;
    const file = fileURLToPath(url).split('?')[0]!;
    if (!file.split(sep).includes('node_modules')) files.add(file);
  };
  // A config in a folder without `"type": "module"` is compiled to CommonJS by tsx, and its local
  // requires land in Node's require cache, where tsx would serve the previous load's copy. Drop
  // those entries (only tsx-namespaced ones: ours) so each load is fresh, and list what it required.
  const requireCache = createRequire(import.meta.url).cache;
  const isNamespaced = (key: string) => /[?&]namespace=|namespace%3D/.test(key);
  for (const key of Object.keys(requireCache)) if (isNamespaced(key)) delete requireCache[key];
  try {
    const mod = (await tsImport(pathToFileURL(configPath).href, { parentURL: import.meta.url, onImport })) as {
      default?: unknown;
    };
    for (const key of Object.keys(requireCache)) {
      if (isNamespaced(key) && key.startsWith(sep)) onImport(pathToFileURL(key.split('?')[0]!).href);
    }
    let value = mod.default;
    // A CommonJS/interop double wrap: `{ default: { default: config } }`.
    if (value !== null && typeof value === 'object' && 'default' in value && Object.keys(value).length === 1) {
      value = (value as { default: unknown }).default;
    }
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (value === undefined) {
      return {
        ok: false,
        configPath,
        files: [...files],
        diagnostics: [
          loadError([], 'the config module has no default export', configPath, 'export default defineConfig({ … })'),
        ],
      };
    }
    return { ok: true, value, configPath, files: [...files], locate: noLocation };
  } catch (cause) {
    return {
      ok: false,
      configPath,
      files: [...files],
      diagnostics: [loadError([], `could not load: ${message(cause)}`, configPath)],
    };
  }
}

async function loadDocument(configPath: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (cause) {
    return {
      ok: false,
      configPath,
      files: [configPath],
      diagnostics: [loadError([], `could not read: ${message(cause)}`, configPath)],
    };
  }
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
