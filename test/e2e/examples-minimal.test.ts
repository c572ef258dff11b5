/**
 * The examples are part of the product: every `examples/<name>/registry.config.ts` validates with
 * the CLI, and `examples/minimal` — copied to a temp dir with only its port changed — serves skopeo.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createContainersTools } from '../helpers/clients.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { run } from '../helpers/process.ts';
import { REPO_ROOT, type RegctlServer, startExample } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
/** Scenario folders; `examples/invalid/*` holds configs that must be rejected (checked in test/compiler). */
const examples = (await readdir(join(REPO_ROOT, 'examples'), { withFileTypes: true }))
  .filter((e) => e.isDirectory() && e.name !== 'invalid')
  .map((e) => e.name);
let server: RegctlServer | undefined;

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('examples', () => {
  it('has examples, each with a config and a README', () => {
    expect(examples).toContain('minimal');
    for (const name of examples) {
      expect(existsSync(join(REPO_ROOT, 'examples', name, 'registry.config.ts')), name).toBe(true);
      expect(existsSync(join(REPO_ROOT, 'examples', name, 'README.md')), name).toBe(true);
    }
  });

  it.each(examples)('regctl validate accepts examples/%s', async (name) => {
    const result = await run(
      process.execPath,
      [
        join(REPO_ROOT, 'bin/regctl.mjs'),
        'validate',
        '--config',
        join(REPO_ROOT, 'examples', name, 'registry.config.ts'),
      ],
      { allowFailure: true, env: { ...process.env, UPSTREAM_PASSWORD: 'x', CI_PASSWORD: 'x' } },
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('examples/minimal serves skopeo (copied with only its port changed)', async () => {
    const source = await readFile(join(REPO_ROOT, 'examples/minimal/registry.config.ts'), 'utf8');
    expect(source).toMatch(/port: 5000/);
    expect(source).toMatch(/from '\.\.\/\.\.\/schema\/index\.ts'/);
    const dir = await dirs.make();
    server = await startExample('minimal', dir);

    const tools = await createContainersTools(await dirs.make());
    const layout = await dirs.make();
    const image = buildImage({ seed: 'example-minimal' });
    await writeOciLayout(layout, { image });
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:image`,
      `docker://${server.host}/myorg/app:1`,
    ]);
    expect((await tools.inspectRaw(`${server.host}/myorg/app:1`)).digest).toBe(image.manifest.digest);
    // The example's relative file store lands next to the copied config.
    expect(existsSync(join(dir, 'data'))).toBe(true);
  });

  it('refuses to serve an example whose port it cannot move off 5000', async () => {
    const examplesDir = await dirs.make();
    await mkdir(join(examplesDir, 'fixed'));
    const source = await readFile(join(REPO_ROOT, 'examples/minimal/registry.config.ts'), 'utf8');
    await writeFile(join(examplesDir, 'fixed', 'registry.config.ts'), source.replace(/port: 5000/, 'port: 5001'));
    await expect(startExample('fixed', await dirs.make(), examplesDir)).rejects.toThrow(
      /fixed\/registry\.config\.ts needs `port: 5000`/,
    );
  });
});
