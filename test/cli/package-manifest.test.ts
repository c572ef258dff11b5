/**
 * package.json as the npm package ships it: `dependencies` are exactly the packages the built
 * code imports at run time (nothing only the tests, the benchmarks or the build use), the
 * development tools stay in `devDependencies`, TypeScript is an optional peer (the compiler
 * imports it lazily to place diagnostics), and `exports` name the built config API and CLI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SOURCE_DIRS } from '../../bin/built-cli.mjs';
import { REPO_ROOT } from '../helpers/regctl-server.ts';

interface Manifest {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, string | { types: string; default: string }>;
  files: string[];
  bin: Record<string, string>;
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
const packageOf = (specifier: string) => /^((?:@[^/]+\/)?[^/]+)/.exec(specifier)![1]!;

/** Packages imported as values (static, dynamic or re-exported), by the sources compiled into dist/. */
function runtimeImports(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const note = (specifier: string, file: string) => {
    if (specifier.startsWith('.') || specifier.startsWith('node:')) return;
    const name = packageOf(specifier);
    found.set(name, [...(found.get(name) ?? []), relative(REPO_ROOT, file)]);
  };
  for (const dir of SOURCE_DIRS) {
    for (const entry of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = join(entry.parentPath, entry.name);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s+'([^']+)'/gm)) {
        if (m[1] === undefined) note(m[2]!, file);
      }
      for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) note(m[1]!, file);
      // Dynamic imports, but not `typeof import('x')` in a type position.
      for (const m of text.matchAll(/(typeof\s+)?\bimport\('([^']+)'\)/g)) if (m[1] === undefined) note(m[2]!, file);
      // pino loads a transport by name.
      for (const m of text.matchAll(/transport:\s*\{\s*target:\s*'([^']+)'/g)) note(m[1]!, file);
    }
  }
  return found;
}

describe('package.json', () => {
  const imports = runtimeImports();

  it('lists every package the built code imports in dependencies (TypeScript: an optional peer)', () => {
    for (const name of ['fastify', 'zod', 'esbuild', 'jose', 'undici', 'pino-pretty', 'typescript']) {
      expect(imports.has(name), name).toBe(true);
    }
    const missing = [...imports.keys()].filter(
      (name) => manifest.dependencies[name] === undefined && manifest.peerDependenciesMeta[name]?.optional !== true,
    );
    expect(missing).toEqual([]);
    expect(manifest.peerDependencies.typescript).toBeDefined();
    expect(manifest.dependencies.typescript).toBeUndefined();
  });

  it('has only runtime dependencies in dependencies, and no development tool there', () => {
    expect(Object.keys(manifest.dependencies).filter((name) => !imports.has(name))).toEqual([]);
    for (const tool of ['tsx', 'vitest', '@biomejs/biome', '@types/node', 'playwright-core']) {
      expect(manifest.dependencies[tool], tool).toBeUndefined();
    }
    expect(Object.keys(manifest.devDependencies).filter((name) => manifest.dependencies[name] !== undefined)).toEqual(
      [],
    );
  });

  it('exports the built config API and CLI, with declarations; the command is regctl', async () => {
    expect(manifest.exports['.']).toEqual({ types: './dist/schema/index.d.ts', default: './dist/schema/index.js' });
    expect(manifest.exports['./cli']).toEqual({ types: './dist/cli/main.d.ts', default: './dist/cli/main.js' });
    expect(manifest.bin).toEqual({ regctl: 'bin/regctl.mjs' });
    expect(manifest.files).toContain('dist/');
    // dist/schema/index.js is compiled from schema/index.ts; dist/cli/main.js from cli/main.ts.
    expect(typeof (await import('../../schema/index.ts')).defineConfig).toBe('function');
    expect(typeof (await import('../../cli/main.ts')).main).toBe('function');
  });
});
