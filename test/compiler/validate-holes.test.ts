/**
 * What `regctl validate` must catch or say, each from a config a reviewer would write: unset
 * environment variables (warning; error with strictEnv), roles naming repositories that do not
 * exist, blob stores sharing storage, schema and cross-reference errors in one run, URLs without a
 * scheme, TypeScript syntax errors placed at file:line:col. The secrets test is in secrets.test.ts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildPlan, type Diagnostic, formatDiagnostics } from '../../compiler/index.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let dir: string;
beforeAll(async () => {
  dir = await dirs.make('regctl-validate-');
});
afterAll(() => dirs.cleanup());

let counter = 0;
/** Writes `config` as JSON and builds it. */
async function build(config: unknown, options: { env?: NodeJS.ProcessEnv; strictEnv?: boolean } = {}) {
  const file = join(dir, `config-${++counter}.json`);
  await writeFile(file, JSON.stringify(config, null, 2));
  return buildPlan({ configPath: file, ...options });
}

const hosted = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'hosted',
  anonymous: ['pull'],
  ...extra,
});
const brief = (d: Diagnostic) => ({ code: d.code, severity: d.severity, path: d.path.join('.') });
const only = (result: BuildResult, code: string) => result.diagnostics.filter((d) => d.code === code);

describe('environment variables the config references', () => {
  const config = {
    repositories: [
      hosted('private'),
      {
        name: 'hub',
        type: 'proxy',
        remote: { url: 'https://registry.example', auth: { username: 'me', password: { env: 'HUB_TOKEN' } } },
      },
    ],
    security: { users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: [] }] },
  };

  it('are a warning naming the variable and the config path when unset', async () => {
    const result = await build(config, { env: { CI_PASSWORD: 'set' } });
    expect(result.ok).toBe(true);
    expect(only(result, 'env-unset').map(brief)).toEqual([
      { code: 'env-unset', severity: 'warning', path: 'repositories.1.remote.auth.password' },
    ]);
    expect(only(result, 'env-unset')[0]!.message).toContain('`HUB_TOKEN`');
  });

  it('are an error with strictEnv, which fails the build', async () => {
    const result = await build(config, { env: {}, strictEnv: true });
    expect(result.ok).toBe(false);
    expect(only(result, 'env-unset').map(brief)).toEqual([
      { code: 'env-unset', severity: 'error', path: 'repositories.1.remote.auth.password' },
      { code: 'env-unset', severity: 'error', path: 'security.users.0.password' },
    ]);
  });

  it('count an empty variable as unset, and pass when all are set', async () => {
    expect(only(await build(config, { env: { CI_PASSWORD: '', HUB_TOKEN: 'x' } }), 'env-unset')).toHaveLength(1);
    const ok = await build(config, { env: { CI_PASSWORD: 'a', HUB_TOKEN: 'b' }, strictEnv: true });
    expect(ok.ok).toBe(true);
    expect(only(ok, 'env-unset')).toEqual([]);
  });
});

describe('roles', () => {
  const roles = (repositories: string[]) => ({
    repositories: [hosted('private'), hosted('team-a')],
    security: { roles: { dev: [{ repositories, actions: ['pull'] }] } },
  });

  it('naming a repository that does not exist is an error with did-you-mean', async () => {
    const result = await build(roles(['privte']));
    expect(result.ok).toBe(false);
    const [d] = only(result, 'unknown-repository');
    expect(d && brief(d)).toEqual({
      code: 'unknown-repository',
      severity: 'error',
      path: 'security.roles.dev.0.repositories.0',
    });
    expect(d!.message).toBe('unknown repository `privte`');
    expect(d!.hint).toBe('did you mean `private`?');
  });

  it('a glob that matches nothing stays a warning', async () => {
    const result = await build(roles(['private', 'team-b*']));
    expect(result.ok).toBe(true);
    expect(result.diagnostics.filter((d) => d.path[0] === 'security').map(brief)).toEqual([
      { code: 'pattern-matches-nothing', severity: 'warning', path: 'security.roles.dev.0.repositories.1' },
    ]);
  });
});

describe('blob stores', () => {
  const stores = (...blobStores: unknown[]) => ({
    blobStores,
    repositories: [hosted('private', { blobStore: (blobStores[0] as { name: string }).name })],
  });

  it.each([
    ['the same folder', './data', 'data/'],
    ['a folder inside another', './data', './data/team'],
    ['a relative and an absolute path to one folder', '.', undefined],
  ])('on %s are an error', async (_, first, second) => {
    const result = await build(
      stores({ name: 'one', type: 'file', path: first }, { name: 'two', type: 'file', path: second ?? dir }),
    );
    expect(result.ok).toBe(false);
    const found = only(result, 'blob-store-overlap');
    expect(found.map(brief)).toEqual([{ code: 'blob-store-overlap', severity: 'error', path: 'blobStores.1.path' }]);
    expect(found[0]!.message).toMatch(/blob store `two` .* blob store `one`/);
  });

  it('on sibling folders with a common prefix are fine', async () => {
    const result = await build(
      stores({ name: 'one', type: 'file', path: './data' }, { name: 'two', type: 'file', path: './data-2' }),
    );
    expect(only(result, 'blob-store-overlap')).toEqual([]);
  });

  it('in one S3 bucket with nested prefixes are an error, other prefixes or buckets are fine', async () => {
    const s3 = (name: string, bucket: string, prefix: string) => ({ name, type: 's3', bucket, prefix });
    const nested = await build(stores(s3('one', 'b', 'reg/'), s3('two', 'b', 'reg/team/'), s3('three', 'c', 'reg/')));
    expect(only(nested, 'blob-store-overlap').map(brief)).toEqual([
      { code: 'blob-store-overlap', severity: 'error', path: 'blobStores.1.prefix' },
    ]);
    const apart = await build(stores(s3('one', 'b', 'reg-a/'), s3('two', 'b', 'reg-b/')));
    expect(only(apart, 'blob-store-overlap')).toEqual([]);
  });
});

describe('one run reports schema and cross-reference errors together', () => {
  it('a bad field in one repository does not hide an unknown member in another', async () => {
    const result = await build({
      repositories: [
        hosted('private', { deploymentPolicy: 'sometimes' }),
        { name: 'all', type: 'group', members: ['privat', 'hub'] },
        { name: 'hub', type: 'proxy', remote: { url: 'https://registry.example', timeout: 'soon' } },
      ],
      listeners: [{ host: '127.0.0.1', port: 5000, repository: 'everything' }],
      security: { users: [{ name: 'ci', password: { env: 'X' }, roles: ['dev'] }] },
    });
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map(brief)).toEqual(
      expect.arrayContaining([
        { code: 'invalid-value', severity: 'error', path: 'repositories.0.deploymentPolicy' },
        { code: 'unknown-member', severity: 'error', path: 'repositories.1.members.0' },
        expect.objectContaining({ path: 'repositories.2.remote.timeout', severity: 'error' }),
        { code: 'unknown-repository', severity: 'error', path: 'listeners.0.repository' },
        { code: 'unknown-role', severity: 'error', path: 'security.users.0.roles.0' },
      ]),
    );
    // `hub` is broken, not missing: the group's reference to it is fine.
    expect(result.diagnostics.filter((d) => d.path.join('.') === 'repositories.1.members.1')).toEqual([]);
    // Nothing is reported twice, nor about the stand-ins that replaced the broken repositories.
    const keys = result.diagnostics.map((d) => `${d.code} ${d.path.join('.')}`);
    expect(new Set(keys).size).toBe(keys.length);
    const first = result.diagnostics.filter((d) => d.path.join('.') === 'repositories.0.deploymentPolicy');
    expect(first.map((d) => d.code)).toEqual(['invalid-value']);
    expect(result.diagnostics.filter((d) => JSON.stringify(d).includes('stand-in'))).toEqual([]);
  });

  it('a broken top-level section still reports the rest', async () => {
    const result = await build({
      repositories: [{ name: 'all', type: 'group', members: ['nope'] }],
      security: { token: { ttl: 'soon' } },
    });
    expect(result.diagnostics.map((d) => d.code)).toEqual(expect.arrayContaining(['invalid-format', 'unknown-member']));
  });
});

describe('URLs without a scheme', () => {
  it.each(['registry-1.docker.io', 'localhost:5000', 'registry.example:443/v2'])(
    '`%s` as a remote says to add https://',
    async (url) => {
      const result = await build({ repositories: [{ name: 'hub', type: 'proxy', remote: { url } }] });
      const [d] = only(result, 'invalid-url');
      expect(d && brief(d)).toEqual({ code: 'invalid-url', severity: 'error', path: 'repositories.0.remote.url' });
      expect(d!.hint).toContain(`add https://: https://${url} `);
    },
  );
});

describe('a TypeScript syntax error', () => {
  it('is placed at file:line:col in the text output and the GitHub annotation', async () => {
    const file = join(dir, 'broken.config.ts');
    await writeFile(file, "export default {\n  repositories: [\n    { name: 'a' type: 'hosted' },\n  ],\n};\n");
    const result = await buildPlan({ configPath: file });
    expect(result.ok).toBe(false);
    const [d] = result.diagnostics;
    expect(d).toMatchObject({ code: 'load-failed', file, line: 3, column: 17 });
    expect(formatDiagnostics(result.diagnostics, 'text', dir)).toMatch(
      /^broken\.config\.ts:3:17: error \(root\): could not load: Expected "}" but found "type"/,
    );
    expect(formatDiagnostics(result.diagnostics, 'github', dir)).toMatch(
      /^::error file=broken\.config\.ts,line=3,col=17,title=regctl load-failed::/,
    );
  });
});
