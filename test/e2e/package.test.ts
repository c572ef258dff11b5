/**
 * The npm package as a user installs it: `npm pack` of this checkout, installed into an empty
 * folder outside the source tree, with a `registry.config.ts` that imports `defineConfig` from the
 * package name. The installed `regctl` must report its version, validate (a valid and an invalid
 * config), and serve a skopeo push and pull; `tsc --noEmit` must type-check the config with the
 * package's own declarations (and reject a config that breaks them).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainersTools } from '../helpers/clients.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import {
  checkoutVersion,
  installPackage,
  listTarball,
  type PackageManifest,
  packPackage,
  readManifest,
} from '../helpers/package.ts';
import { readLog, run, stopChild, waitForHttp } from '../helpers/process.ts';
import { REPO_ROOT } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let manifest: PackageManifest;
let tarball: string;
let app: string;
let server: ChildProcess | undefined;

/** A config as a user writes it in their own repository. */
function userConfig(name: string, port: number, repositories: string): string {
  return `import { defineConfig } from '${name}';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [${repositories}],
  listeners: [{ host: '127.0.0.1', port: ${port}, repository: 'private' }],
});
`;
}

const HOSTED = "{ name: 'private', type: 'hosted', anonymous: ['pull', 'push'] }";

/** The installed command, as `npx regctl` finds it. */
const regctl = (args: string[]) =>
  run(process.execPath, [join(app, 'node_modules', '.bin', 'regctl'), ...args], {
    cwd: app,
    allowFailure: true,
    env: { ...process.env, NO_COLOR: '1' },
  });

beforeAll(async () => {
  manifest = await readManifest();
  tarball = await packPackage(await dirs.make('regctl-pack-'));
  app = await dirs.make('regctl-app-');
  await installPackage(app, tarball, [`typescript@${await checkoutVersion('typescript')}`]);
}, 180_000);

afterAll(async () => {
  if (server) await stopChild(server);
  await dirs.cleanup();
});

describe('the npm package', () => {
  it('ships built JavaScript and declarations, not the TypeScript sources or tests', async () => {
    const files = await listTarball(tarball);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/schema/index.d.ts');
    expect(files).toContain('bin/regctl.mjs');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('bench/'))).toEqual([]);
  });

  it('is installed outside the source tree, without bundling anything at start', () => {
    expect(relative(REPO_ROOT, app).startsWith('..')).toBe(true);
    expect(existsSync(join(app, 'node_modules', manifest.name, 'dist', 'cli', 'main.js'))).toBe(true);
    // The development bundle's cache of a checkout is never made by the installed package.
    expect(existsSync(join(app, 'node_modules', '.cache', 'regctl'))).toBe(false);
  });

  it('regctl --version prints the package version', async () => {
    const result = await regctl(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`regctl ${manifest.version} (${manifest.name},`);
  });

  it('validates a config that imports defineConfig from the package name', async () => {
    await writeFile(join(app, 'registry.config.ts'), userConfig(manifest.name, 5000, HOSTED));
    const result = await regctl(['validate']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/registry\.config\.ts: valid \(plan [0-9a-f]{12}/);
    expect(existsSync(join(app, 'node_modules', '.cache', 'regctl'))).toBe(false);
  });

  it('validates a config kept outside any npm project (a git checkout of the config repository)', async () => {
    const elsewhere = await dirs.make('regctl-config-repo-');
    await writeFile(join(elsewhere, 'registry.config.ts'), userConfig(manifest.name, 5000, HOSTED));
    const result = await regctl(['validate', '--config', join(elsewhere, 'registry.config.ts')]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(existsSync(join(elsewhere, 'node_modules'))).toBe(false);
  });

  it('rejects an invalid config with the diagnostic placed at line:column', async () => {
    const file = join(app, 'invalid.config.ts');
    const group = "{ name: 'all', type: 'group', members: ['privte'] }";
    await writeFile(file, userConfig(manifest.name, 5000, `${HOSTED},\n    ${group}`));
    const result = await regctl(['validate', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('unknown repository `privte` [unknown-member]');
    expect(result.stdout).toMatch(/invalid\.config\.ts:6:\d+: error repositories\[1\]\.members\[0\]/);
    expect(result.stdout).toContain('did you mean `private`?');
  });

  it('type-checks the config with the package types, and rejects one that breaks them', async () => {
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] },
        include: ['registry.config.ts'],
      }),
    );
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    const ok = await run(process.execPath, [tsc, '-p', '.'], { cwd: app, allowFailure: true });
    expect(ok.code, ok.stdout).toBe(0);

    await writeFile(
      join(app, 'registry.config.ts'),
      userConfig(manifest.name, 5000, "{ name: 'private', type: 'hostd' }"),
    );
    const broken = await run(process.execPath, [tsc, '-p', '.'], { cwd: app, allowFailure: true });
    expect(broken.code).not.toBe(0);
    expect(broken.stdout).toMatch(/registry\.config\.ts\(5,\d+\): error TS\d+: Type ."hostd". is not assignable/);
  });

  it('serves a skopeo push and pull from the installed package', async () => {
    const port = await freePort();
    await writeFile(join(app, 'registry.config.ts'), userConfig(manifest.name, port, HOSTED));
    const log = join(app, 'serve.log');
    // Every module the serving process loads, recorded by a load hook (it runs off-thread).
    const loaded = join(app, 'loaded-modules.txt');
    const hooks = join(app, 'module-hooks.mjs');
    await writeFile(
      hooks,
      `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) { appendFileSync(out, url + '\\n'); return next(url, context); }
`,
    );
    const recorder = join(app, 'record-modules.mjs');
    await writeFile(
      recorder,
      `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { out: ${JSON.stringify(loaded)} } });
`,
    );
    server = spawn(
      process.execPath,
      ['--import', recorder, join(app, 'node_modules', '.bin', 'regctl'), 'serve', '--no-watch'],
      { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    server.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, { child: server, describe: () => stderr + readLog(log) });

    const tools = await createContainersTools(await dirs.make());
    const layout = await dirs.make();
    const image = buildImage({ seed: 'npm-package' });
    await writeOciLayout(layout, { image });
    const reference = `127.0.0.1:${port}/team/app:1`;
    await tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:image`, `docker://${reference}`]);
    expect((await tools.inspectRaw(reference)).digest).toBe(image.manifest.digest);
    const pulled = await dirs.make();
    await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${reference}`, `oci:${pulled}:copy`]);
    const { stdout } = await tools.skopeo(['inspect', '--raw', `oci:${pulled}:copy`]);
    expect(JSON.parse(stdout).layers.map((l: { digest: string }) => l.digest)).toEqual(
      image.layers.map((l) => l.digest),
    );
    // The relative file store lands next to the user's config.
    expect(existsSync(join(app, 'data'))).toBe(true);

    // Built JavaScript only: no tsx, no bundle of the sources. esbuild is the one TypeScript
    // loader, for the user's registry.config.ts, imported lazily by the config loader; a plan
    // without tokens or webhooks loads neither jose nor undici (imported on first use).
    const modules = (await readFile(loaded, 'utf8')).split('\n').filter(Boolean);
    const installed = join(app, 'node_modules', manifest.name);
    expect(modules).toContain(pathToFileURL(join(installed, 'dist', 'cli', 'main.js')).href);
    const packagesOf = (urls: string[]) =>
      new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
    const packages = packagesOf(modules.filter((url) => !url.startsWith(pathToFileURL(installed).href)));
    expect(packages).toContain('fastify');
    expect(packages).toContain('esbuild');
    for (const absent of ['tsx', 'jose', 'undici', 'typescript']) expect(packages).not.toContain(absent);
    expect(modules.filter((url) => url.endsWith('.ts') && !url.endsWith('registry.config.ts'))).toEqual([]);
  });
});
