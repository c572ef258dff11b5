import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPlan, locateDiagnostics } from '../../compiler/index.ts';

const schema = join(import.meta.dirname, '..', '..', 'schema', 'index.ts');
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-load-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loading', () => {
  it.each([
    ['a CommonJS folder', false],
    ['an ESM folder', true],
  ])('finds registry.config.ts in %s, reloads it fresh and lists its local imports', async (_, esm) => {
    if (esm) await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(dir, 'ports.ts'), 'export const port = 5000;\n');
    await writeFile(
      join(dir, 'registry.config.ts'),
      `import { defineConfig } from '${schema}';
import { port } from './ports.ts';
export default defineConfig({
  repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push'] }],
  listeners: [{ host: '127.0.0.1', port, repository: 'private' }],
});
`,
    );
    const first = await buildPlan({ cwd: dir });
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.files).toEqual(
      expect.arrayContaining([join(dir, 'registry.config.ts'), join(dir, 'ports.ts'), schema]),
    );
    expect(first.files.some((f) => f.includes('node_modules'))).toBe(false);
    expect(first.plan.listeners[0]!.port).toBe(5000);

    await writeFile(join(dir, 'ports.ts'), 'export const port = 5001;\n');
    const second = await buildPlan({ cwd: dir });
    expect(second.ok && second.plan.listeners[0]!.port).toBe(5001);
    expect(second.ok && second.plan.id).not.toBe(first.plan.id);
  });

  it('locates diagnostics in a TS config through defineConfig and local constants', async () => {
    await writeFile(
      join(dir, 'registry.config.ts'),
      `import { defineConfig } from '${schema}';
const repositories = [
  { name: 'private', type: 'hosted' as const, anonymous: ['pull' as const, 'push' as const] },
  { name: 'registry', type: 'group' as const, members: ['private', 'privte'] },
];
export default defineConfig({ repositories, listeners: [{ port: 5000, repository: 'private' }] });
`,
    );
    const result = await buildPlan({ cwd: dir });
    expect(result.diagnostics).toMatchObject([{ code: 'unknown-member', line: 4, column: 68 }]);
  });

  it('with positions: false keeps exact paths only, and locateDiagnostics places them afterwards', async () => {
    const file = join(dir, 'registry.config.ts');
    await writeFile(
      file,
      `import { defineConfig } from '${schema}';
export default defineConfig({
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull'] },
    { name: 'registry', type: 'group', members: ['private', 'privte'] },
  ],
  listeners: [{ port: 5000, repository: 'private' }],
});
`,
    );
    const result = await buildPlan({ cwd: dir, positions: false });
    const unplaced = result.diagnostics.find((d) => d.code === 'unknown-member');
    expect(unplaced).toMatchObject({ path: ['repositories', 1, 'members', 1], file });
    for (const d of result.diagnostics) expect(d).not.toHaveProperty('line');
    const placed = await locateDiagnostics(file, result.diagnostics);
    expect(placed).toHaveLength(result.diagnostics.length);
    expect(placed.find((d) => d.code === 'unknown-member')).toMatchObject({ file, line: 5, column: 61 });
    for (const d of placed) expect(d.line).toBeGreaterThan(0);
    expect(await locateDiagnostics(file, [])).toEqual([]);
  });

  it("with positions: 'failed' places a failed build's diagnostics, and leaves a valid one's warnings unplaced", async () => {
    const file = join(dir, 'registry.config.ts');
    const config = (member: string) => `import { defineConfig } from '${schema}';
export default defineConfig({
  repositories: [
    { name: 'private', type: 'hosted' },
    { name: 'registry', type: 'group', members: ['${member}'] },
  ],
  listeners: [{ port: 5000, repository: 'private' }],
});
`;
    await writeFile(file, config('privte'));
    const failed = await buildPlan({ cwd: dir, positions: 'failed' });
    expect(failed.ok).toBe(false);
    expect(failed.diagnostics.find((d) => d.code === 'unknown-member')).toMatchObject({ file, line: 5, column: 50 });
    await writeFile(file, config('private'));
    const valid = await buildPlan({ cwd: dir, positions: 'failed' });
    expect(valid.ok).toBe(true);
    expect(valid.diagnostics.find((d) => d.code === 'hosted-not-pushable')).toMatchObject({
      path: ['repositories', 0],
      file,
    });
    for (const d of valid.diagnostics) expect(d).not.toHaveProperty('line');
  });

  it('reports an empty config file and an unsupported extension as load failures with a hint', async () => {
    await writeFile(join(dir, 'registry.config.ts'), '  \n');
    const empty = await buildPlan({ cwd: dir });
    expect(empty).toMatchObject({ ok: false, stage: 'load' });
    expect(empty.diagnostics[0]).toMatchObject({
      code: 'load-failed',
      message: 'the config file is empty',
      hint: 'export default defineConfig({ … })',
    });
    await writeFile(join(dir, 'registry.toml'), 'listeners = []\n');
    const toml = await buildPlan({ cwd: dir, configPath: 'registry.toml' });
    expect(toml).toMatchObject({ ok: false, stage: 'load', files: [join(dir, 'registry.toml')] });
    expect(toml.diagnostics[0]!.message).toBe(`unsupported config file extension of ${join(dir, 'registry.toml')}`);
    expect(toml.diagnostics[0]!.hint).toMatch(/^name it registry\.config\.ts, /);
  });

  it('reports a syntax error in a TS config as a load failure', async () => {
    await writeFile(join(dir, 'registry.config.ts'), 'export default {{{;\n');
    const result = await buildPlan({ cwd: dir });
    expect(result).toMatchObject({ ok: false, stage: 'load' });
    expect(result.diagnostics[0]).toMatchObject({ code: 'load-failed', file: join(dir, 'registry.config.ts') });
  });

  it('reports a missing default export and a missing config', async () => {
    expect((await buildPlan({ cwd: dir })).diagnostics[0]).toMatchObject({ code: 'config-not-found' });
    await writeFile(join(dir, 'registry.config.mjs'), 'export const x = 1;\n');
    const result = await buildPlan({ cwd: dir });
    expect(result).toMatchObject({ ok: false, stage: 'load' });
    expect(result.diagnostics[0]!.message).toBe('the config module has no default export');
  });

  it('reports a missing default export in a CommonJS folder too (no interop object taken for the config)', async () => {
    await writeFile(join(dir, 'registry.config.ts'), 'export const x = 1;\n');
    const result = await buildPlan({ cwd: dir });
    expect(result).toMatchObject({ ok: false, stage: 'load' });
    expect(result.diagnostics[0]!.message).toBe('the config module has no default export');
  });

  it('reports a config that throws, or imports a missing file, in one clean line', async () => {
    await writeFile(join(dir, 'registry.config.ts'), "throw new Error('S3_BUCKET is not set');\n");
    const thrown = await buildPlan({ cwd: dir });
    expect(thrown).toMatchObject({ ok: false, stage: 'load' });
    expect(thrown.diagnostics[0]!.message).toBe('could not load: S3_BUCKET is not set');
    await writeFile(join(dir, 'registry.config.ts'), "export { default } from './nope.ts';\n");
    const missing = await buildPlan({ cwd: dir });
    expect(missing.diagnostics[0]).toMatchObject({
      message: 'could not load: Could not resolve "./nope.ts"',
      file: join(dir, 'registry.config.ts'),
      line: 1,
      column: 25,
    });
  });

  it('says when --config names a folder', async () => {
    const result = await buildPlan({ configPath: dir });
    expect(result).toMatchObject({ ok: false, stage: 'load' });
    expect(result.diagnostics[0]).toMatchObject({ code: 'config-not-found', message: `${dir} is not a file` });
  });

  it('points YAML diagnostics at line and column', async () => {
    await writeFile(
      join(dir, 'registry.config.yaml'),
      `repositories:
  - name: private
    type: hosted
  - name: registry
    type: group
    members: [private, privte]
listeners:
  - port: 5000
    repositry: registry
`,
    );
    const result = await buildPlan({ cwd: dir });
    expect(result).toMatchObject({ ok: false, stage: 'check' });
    // The schema error does not hide the cross-reference error (the rules run on the rest).
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([
      {
        code: 'unknown-member',
        severity: 'error',
        path: ['repositories', 1, 'members', 1],
        message: 'unknown repository `privte`',
        hint: 'did you mean `private`?',
        file: join(dir, 'registry.config.yaml'),
        line: 6,
        column: 24,
      },
      {
        code: 'unknown-field',
        severity: 'error',
        path: ['listeners', 0, 'repositry'],
        message: 'unknown field `repositry`',
        hint: 'did you mean `repository`?',
        file: join(dir, 'registry.config.yaml'),
        line: 9,
        column: 16,
      },
    ]);
  });

  it('places rule errors of a YAML config at line and column', async () => {
    await writeFile(
      join(dir, 'registry.config.yml'),
      'repositories:\n  - { name: registry, type: group, members: [private, privte] }\nlisteners: [{ port: 5000, repository: registry }]\n',
    );
    const result = await buildPlan({ cwd: dir });
    expect(result.diagnostics).toMatchObject([
      { code: 'unknown-member', path: ['repositories', 0, 'members', 0], line: 2, column: 46 },
      { code: 'unknown-member', path: ['repositories', 0, 'members', 1], line: 2, column: 55 },
    ]);
  });

  it('reports YAML syntax errors with their position', async () => {
    await writeFile(join(dir, 'registry.config.yaml'), 'repositories:\n  - name: [unclosed\n');
    const result = await buildPlan({ cwd: dir });
    expect(result).toMatchObject({ ok: false, stage: 'load' });
    expect(result.diagnostics[0]).toMatchObject({ code: 'load-failed', line: expect.any(Number) });
  });

  it('warns about env references the given environment does not define', async () => {
    await writeFile(
      join(dir, 'registry.config.yaml'),
      'repositories: [{ name: private, type: hosted, anonymous: [pull, push] }]\nlisteners: [{ port: 5000, repository: private }]\nsecurity:\n  users:\n    - { name: a, password: { env: A_PASSWORD } }\n    - { name: b, password: { env: B_PASSWORD } }\n',
    );
    expect((await buildPlan({ cwd: dir })).diagnostics).toEqual([]);
    const result = await buildPlan({ cwd: dir, env: { A_PASSWORD: 'x' } });
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toMatchObject([
      {
        code: 'env-unset',
        severity: 'warning',
        path: ['security', 'users', 1, 'password'],
        message: 'environment variable `B_PASSWORD` is not set',
      },
    ]);
  });

  it('loads JSON configs', async () => {
    await writeFile(
      join(dir, 'registry.config.json'),
      JSON.stringify({
        repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push'] }],
        listeners: [{ port: 5000, repository: 'private' }],
      }),
    );
    const result = await buildPlan({ cwd: dir });
    expect(result.ok).toBe(true);
    expect(result.ok && result.plan.blobStores.default).toEqual({
      name: 'default',
      driver: 'file',
      path: join(dir, 'data'),
      uploads: { timeoutMs: 3_600_000, maxBytes: null },
    });
  });
});
