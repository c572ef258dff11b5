/**
 * Which CLI bin/regctl.mjs runs (bin/built-cli.mjs): the built dist/ in an installed package, and
 * in a source checkout only while no source file is newer than the build; otherwise the sources.
 */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILD_STAMP, builtCli } from '../../bin/built-cli.mjs';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

const at = (seconds: number) => new Date(1_700_000_000_000 + seconds * 1000);

async function touch(file: string, time: Date) {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, '');
  await utimes(file, time, time);
}

describe('builtCli', () => {
  it('runs dist/ in an installed package, where no sources are shipped', async () => {
    const root = await dirs.make();
    await touch(join(root, 'dist/cli/main.js'), at(0));
    expect(builtCli(root)).toBe(join(root, 'dist/cli/main.js'));
  });

  it('has nothing to run when dist/ was never built', async () => {
    const root = await dirs.make();
    await touch(join(root, 'cli/main.ts'), at(0));
    expect(builtCli(root)).toBeUndefined();
  });

  it('runs dist/ in a checkout while no source is newer than the build stamp', async () => {
    const root = await dirs.make();
    await touch(join(root, 'cli/main.ts'), at(0));
    await touch(join(root, 'runtime/http/deep/route.ts'), at(5));
    await touch(join(root, 'dist/cli/main.js'), at(20));
    await touch(join(root, BUILD_STAMP), at(10));
    expect(builtCli(root)).toBe(join(root, 'dist/cli/main.js'));

    // A source edited after the build started (even deep in a folder) makes dist/ stale.
    await touch(join(root, 'runtime/http/deep/route.ts'), at(11));
    expect(builtCli(root)).toBeUndefined();
  });

  it('does not trust a checkout dist/ without a stamp (a build that did not finish)', async () => {
    const root = await dirs.make();
    await touch(join(root, 'cli/main.ts'), at(0));
    await touch(join(root, 'dist/cli/main.js'), at(20));
    expect(builtCli(root)).toBeUndefined();
  });
});
