import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigImportError, importConfigModule } from '../../compiler/import-config.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A temp folder inside the repository, so `zod` resolves from its node_modules like a user's config. */
async function project(files: Record<string, string>): Promise<string> {
  await mkdir(join(process.cwd(), '.tmp'), { recursive: true });
  const dir = await mkdtemp(join(process.cwd(), '.tmp', 'import-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

describe('importConfigModule', () => {
  it('imports a TypeScript config and lists it and its local imports, not packages', async () => {
    const dir = await project({
      'registry.config.ts':
        "import { z } from 'zod';\nimport { port } from './port.ts';\nexport default { port: z.number().parse(port) };\n",
      'port.ts': 'export const port: number = 5000;\n',
    });
    const { module, files } = await importConfigModule(join(dir, 'registry.config.ts'));
    expect(module.default).toEqual({ port: 5000 });
    expect(files).toEqual([join(dir, 'port.ts'), join(dir, 'registry.config.ts')]);
  });

  it('tells onFiles the files once bundled, before the module runs (and throws)', async () => {
    const dir = await project({
      'registry.config.ts': "import { port } from './port.ts';\nthrow new Error('no ' + port);\n",
      'port.ts': 'export const port = 5000;\n',
    });
    const told: string[][] = [];
    await expect(
      importConfigModule(join(dir, 'registry.config.ts'), { onFiles: (files) => told.push(files) }),
    ).rejects.toThrow('no 5000');
    expect(told).toEqual([[join(dir, 'port.ts'), join(dir, 'registry.config.ts')]]);
  });

  it('is fresh on every call: an edit to an imported module is seen by the next import', async () => {
    const dir = await project({
      'registry.config.ts': "import { port } from './port.ts';\nexport default { port };\n",
      'port.ts': 'export const port = 5000;\n',
    });
    const config = join(dir, 'registry.config.ts');
    expect((await importConfigModule(config)).module.default).toEqual({ port: 5000 });
    await writeFile(join(dir, 'port.ts'), 'export const port = 5001;\n');
    expect((await importConfigModule(config)).module.default).toEqual({ port: 5001 });
  });

  it('shares package instances with the process (packages are imported, not bundled)', async () => {
    const dir = await project({ 'registry.config.ts': "import { z } from 'zod';\nexport const zod = z;\n" });
    const { module } = await importConfigModule(join(dir, 'registry.config.ts'));
    expect(module.zod).toBe(z);
  });

  it('gives import.meta.url as the config file URL', async () => {
    const dir = await project({ 'registry.config.ts': 'export default import.meta.url;\n' });
    const { module } = await importConfigModule(join(dir, 'registry.config.ts'));
    expect(module.default).toBe(`file://${join(dir, 'registry.config.ts')}`);
  });

  it('loads CommonJS: require of packages and local files, module.exports, __dirname', async () => {
    const dir = await project({
      'registry.config.cjs':
        "const { z } = require('zod');\nconst { port } = require('./port.cjs');\nmodule.exports = { port: z.number().parse(port), dir: __dirname, file: __filename };\n",
      'port.cjs': 'exports.port = 5000;\n',
    });
    const { module, files } = await importConfigModule(join(dir, 'registry.config.cjs'));
    expect(module.default).toEqual({ port: 5000, dir, file: join(dir, 'registry.config.cjs') });
    expect(files).toEqual([join(dir, 'port.cjs'), join(dir, 'registry.config.cjs')]);
  });

  it('reports a syntax error with file, line and column', async () => {
    const dir = await project({ 'registry.config.ts': 'export default {\n  port: ,\n};\n' });
    const failure = await importConfigModule(join(dir, 'registry.config.ts')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigImportError);
    expect((failure as ConfigImportError).location).toEqual({
      file: join(dir, 'registry.config.ts'),
      line: 2,
      column: 9,
    });
  });

  it('reports a missing import and an exception thrown while the config runs', async () => {
    const missing = await project({ 'registry.config.ts': "import { x } from './nope.ts';\nexport default x;\n" });
    const notFound = await importConfigModule(join(missing, 'registry.config.ts')).catch((error: unknown) => error);
    expect(notFound).toBeInstanceOf(ConfigImportError);
    expect((notFound as Error).message).toContain('./nope.ts');

    const throwing = await project({
      'registry.config.ts': "import './side.ts';\nexport default {};\n",
      'side.ts': "throw new Error('S3_BUCKET is not set');\n",
    });
    const thrown = await importConfigModule(join(throwing, 'registry.config.ts')).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(ConfigImportError);
    expect((thrown as Error).message).toBe('S3_BUCKET is not set');
    expect((thrown as ConfigImportError).files).toEqual([
      join(throwing, 'registry.config.ts'),
      join(throwing, 'side.ts'),
    ]);
  });
});
