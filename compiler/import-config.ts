/**
 * Imports a TypeScript or JavaScript config module, fresh on every call, without module-loader
 * hooks in the calling process.
 *
 * The config and everything it imports are bundled by esbuild into one ES module (TypeScript
 * stripped, CommonJS wrapped; packages stay external, see below), and that text is imported from a `data:` URL.
 * Why not a loader (tsx's `tsImport`, `module.register`)? A loader keeps a thread with its own V8
 * isolate alive for the life of the process (≈ 40 MiB here, measured), it caches modules by URL
 * so a reload needs cache-busting tricks (and a second mechanism for CommonJS's `require` cache),
 * and it reports imported files through callbacks. A bundle has none of that: each call is a new
 * module by construction, and esbuild's metafile lists exactly the local files the config is made
 * of — the watcher's list.
 *
 * What the bundle keeps of the original files: `import.meta.url`, `__filename` and `__dirname`
 * are the config file's (for every bundled file, which is right for the config itself and close
 * enough for its imports), and `require` is a real one made for the config's folder, so
 * CommonJS configs (`.cjs`, or `.ts` written with `require`/`module.exports`) load as they would
 * under Node. Each load leaves its module in Node's ESM cache (a `data:` URL cannot be
 * evicted): ≈ the bundle's size per reload, the same order as any fresh-import scheme.
 */
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin, stop } from 'esbuild';

/**
 * Where regctl's own packages resolve from: the folder of this module (inside the installed
 * `regctl-registry`, whose own name resolves from its `node_modules` parent).
 */
const OWN_PACKAGES = dirname(fileURLToPath(import.meta.url));

/**
 * Packages (bare specifiers) stay outside the bundle, imported by their resolved file URL: a
 * `data:` module cannot resolve bare names itself, and bundling them would re-evaluate libraries
 * such as zod on every reload (≈ 100 ms and their memory each time). Resolved as esbuild resolves
 * them from the importing file (`import` condition), so they are the same module instances the
 * rest of the process uses. A package the config's folder cannot resolve is looked up from
 * regctl's own install.
 */
const externalPackages: Plugin = {
  name: 'regctl-external-packages',
  setup(plugin) {
    plugin.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'resolving' || args.path.startsWith('node:') || isAbsolute(args.path)) return undefined;
      const from = (resolveDir: string) =>
        plugin.resolve(args.path, { kind: args.kind, resolveDir, importer: args.importer, pluginData: 'resolving' });
      let resolved = await from(args.resolveDir);
      // A config outside any npm project (a git-sync checkout, /config in the container image)
      // still imports `regctl-registry` (and zod): from the regctl that runs it.
      if (resolved.errors.length > 0) {
        const fallback = await from(OWN_PACKAGES);
        if (fallback.errors.length === 0) resolved = fallback;
      }
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      if (resolved.external) return { path: args.path, external: true }; // a Node built-in
      // `import` needs a URL; `require` (the bundle's createRequire, see the banner) a path.
      if (args.kind === 'require-call') return { path: resolved.path, external: true };
      return { path: pathToFileURL(resolved.path).href, external: true };
    });
  },
};

export interface ImportedConfig {
  /** The module's namespace (its `default` is the config, or a function returning it). */
  readonly module: Record<string, unknown>;
  /** The config file and every local (non-`node_modules`) file it imports, absolute, sorted. */
  readonly files: string[];
}

/** Where a syntax or resolution error is: an absolute file, 1-based line and column. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * An import that failed to bundle or to evaluate; `files` is what esbuild got to see, `location`
 * where the first bundling error is (a syntax error, an import that does not resolve).
 */
export class ConfigImportError extends Error {
  readonly files: string[];
  readonly location: SourceLocation | undefined;
  constructor(message: string, files: string[], options: { cause?: unknown; location?: SourceLocation } = {}) {
    super(message, options);
    this.name = 'ConfigImportError';
    this.files = files;
    this.location = options.location;
  }
}

/** Bundles the config and its local imports into one ES module (text plus esbuild's metafile). */
function bundle(configPath: string) {
  return build({
    entryPoints: [configPath],
    absWorkingDir: dirname(configPath),
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [externalPackages],
    logLevel: 'silent',
    sourcemap: 'inline',
    define: {
      'import.meta.url': JSON.stringify(pathToFileURL(configPath).href),
      __filename: JSON.stringify(configPath),
      __dirname: JSON.stringify(dirname(configPath)),
    },
    // A real `require` for CommonJS configs and files: esbuild's require shim calls it for packages.
    banner: {
      js: `import { createRequire as __regctlCreateRequire } from 'node:module';\nconst require = __regctlCreateRequire(${JSON.stringify(pathToFileURL(configPath).href)});`,
    },
  });
}

/** esbuild's first error: its text, and where it is (esbuild's file is relative to `cwd`). */
function buildFailure(cause: unknown, cwd: string): { text: string; location?: SourceLocation } {
  const errors = (
    cause as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }
  ).errors;
  const first = errors?.[0];
  if (!first) return { text: cause instanceof Error ? cause.message : String(cause) };
  if (!first.location) return { text: first.text };
  const { file, line, column } = first.location;
  return { text: first.text, location: { file: resolve(cwd, file), line, column: column + 1 } };
}

export interface ImportConfigOptions {
  /**
   * Called with the config's files once they are bundled, before the module is evaluated: a
   * caller that may give up on a config that never finishes evaluating still knows what to watch.
   */
  readonly onFiles?: (files: string[]) => void;
}

/**
 * Bundles in flight in this process. esbuild's service is one child process per process (≈ 20 MB),
 * which esbuild keeps for good; a server loads its config once, so the service is stopped when the
 * last bundle in flight is done (the next load starts it again). A count, not per-call state,
 * because the service itself is per process.
 */
let bundling = 0;

function releaseEsbuild(): void {
  bundling -= 1;
  if (bundling === 0) stop();
}

export async function importConfigModule(
  configPath: string,
  options: ImportConfigOptions = {},
): Promise<ImportedConfig> {
  let result: Awaited<ReturnType<typeof bundle>>;
  bundling += 1;
  try {
    result = await bundle(configPath);
  } catch (cause) {
    releaseEsbuild();
    const { text, location } = buildFailure(cause, dirname(configPath));
    const files = location && location.file !== configPath ? [configPath, location.file] : [configPath];
    throw new ConfigImportError(text, files, { cause, location });
  }
  releaseEsbuild();
  const cwd = dirname(configPath);
  const files = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(':')) // esbuild's virtual modules (`<define:…>`, `<runtime>`)
    .map((input) => resolve(cwd, input))
    .filter((file) => !file.split(sep).includes('node_modules'))
    .sort();
  options.onFiles?.(files);
  const text = result.outputFiles[0]?.text ?? '';
  try {
    const module = (await import(`data:text/javascript;base64,${Buffer.from(text).toString('base64')}`)) as Record<
      string,
      unknown
    >;
    return { module, files };
  } catch (cause) {
    throw new ConfigImportError(cause instanceof Error ? cause.message : String(cause), files, { cause });
  }
}
