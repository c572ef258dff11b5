/** describeConfigRevision: the git commit of a config, dirty or not; undefined outside git. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeConfigRevision } from '../../compiler/config-revision.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-revision-'));
  dirs.push(dir);
  return dir;
}
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

describe('describeConfigRevision', () => {
  it('is undefined outside a git checkout, and never throws', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'registry.config.ts'), 'export default {};\n');
    expect(await describeConfigRevision(join(dir, 'registry.config.ts'), [])).toBeUndefined();
    expect(await describeConfigRevision(join(dir, 'missing', 'registry.config.ts'), [])).toBeUndefined();
  });

  it('names HEAD, dirty when the config or an import in the checkout changed; imports outside it do not count', async () => {
    const repo = await tempDir();
    const outside = await tempDir();
    const config = join(repo, 'registry.config.ts');
    const local = join(repo, 'access.ts');
    const shared = join(outside, 'shared.ts');
    await writeFile(config, 'export default {};\n');
    await writeFile(local, 'export const a = 1;\n');
    await writeFile(shared, 'export const b = 1;\n');
    git(repo, 'init', '-q');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'first');
    const head = git(repo, 'rev-parse', 'HEAD');
    const files = [config, local, shared];
    expect(await describeConfigRevision(config, files)).toEqual({ commit: head, dirty: false });
    await writeFile(shared, 'export const b = 2;\n');
    expect(await describeConfigRevision(config, files)).toEqual({ commit: head, dirty: false });
    await writeFile(local, 'export const a = 2;\n');
    expect(await describeConfigRevision(config, files)).toEqual({ commit: head, dirty: true });
  });
});
