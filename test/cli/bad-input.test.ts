/** Bad input for real: each prints one clear message on stderr, the documented exit code, and no stack. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'regctl.mjs');
let dir: string;

function regctl(args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-bad-'));
  await writeFile(join(dir, 'throws.config.ts'), "throw new Error('S3_BUCKET is not set');\n");
  await writeFile(join(dir, 'nothing.config.ts'), 'export const repositories = [];\n');
  await writeFile(join(dir, 'broken.yaml'), 'repositories:\n  - name: [unclosed\n');
  // an s3 store nobody answers for (port 9: discard), keys from the environment
  await writeFile(
    join(dir, 'unreachable-s3.json'),
    JSON.stringify({
      blobStores: [
        {
          name: 'bucket',
          type: 's3',
          bucket: 'b',
          endpoint: 'http://127.0.0.1:9',
          forcePathStyle: true,
          credentials: { accessKeyId: { env: 'BAD_INPUT_AK' }, secretAccessKey: { env: 'BAD_INPUT_SK' } },
        },
      ],
    }),
  );
  process.env.BAD_INPUT_AK = 'ak';
  process.env.BAD_INPUT_SK = 'sk';
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('regctl with bad input', () => {
  it.each([
    ['an unknown flag', ['validate', '--bogus'], 2, "regctl: Unknown option '--bogus'"],
    ['an unknown command', ['frob'], 2, 'regctl: unknown command "frob"'],
    ['no command (usage on stderr)', [], 2, 'regctl: no command given'],
    [
      'a missing config file',
      ['validate', '--config', 'missing.config.ts'],
      2,
      'missing.config.ts does not exist [config-not-found]',
    ],
    ['no config in the folder', ['plan'], 2, 'no config file in'],
    [
      'a config that throws at import',
      ['validate', '--config', 'throws.config.ts'],
      2,
      'could not load: S3_BUCKET is not set [load-failed]',
    ],
    [
      'a config exporting nothing',
      ['plan', '--config', 'nothing.config.ts'],
      2,
      'the config module has no default export [load-failed]',
    ],
    [
      'a YAML syntax error',
      ['plan', '--config', 'broken.yaml'],
      2,
      'broken.yaml:3:1: error (root): syntax error: Flow sequence in block collection',
    ],
    [
      '--diff with two bases, before any loading',
      ['plan', '--diff', 'a.ts', 'b.ts'],
      2,
      '--diff needs exactly one of OTHER_CONFIG or --against REV',
    ],
    ['serve with a missing config', ['serve', '--config', 'missing.config.ts'], 2, 'regctl serve: config'],
    ['gc with an unknown flag', ['gc', '--force'], 2, "regctl: Unknown option '--force'"],
    ['gc with a missing config', ['gc', '--config', 'missing.config.ts'], 2, 'missing.config.ts does not exist'],
    ['usage with a missing config', ['usage', '--config', 'missing.config.ts'], 2, 'missing.config.ts does not exist'],
    [
      'gc against a blob store that cannot be reached',
      ['gc', '--config', 'unreachable-s3.json'],
      1,
      'regctl gc: blob store "bucket": cannot reach its bucket',
    ],
    [
      'warm with a missing list file',
      ['warm', '--registry', 'http://127.0.0.1:9', '--list', 'missing.txt'],
      1,
      "regctl warm: ENOENT: no such file or directory, open 'missing.txt'",
    ],
    ['export without -o', ['export', 'tools/app:1'], 2, 'regctl: name the bundle to write with -o FILE'],
    [
      'export with nothing to export',
      ['export', '-o', 'b.tar', '--registry', 'http://127.0.0.1:9'],
      2,
      'regctl: nothing to export: name images or give --list FILE',
    ],
    [
      'export with a platform that is not os/arch',
      ['export', '-o', 'b.tar', '--registry', 'http://127.0.0.1:9', '--platform', 'linux', 'tools/app:1'],
      2,
      'regctl: --platform linux: expected OS/ARCH[/VARIANT], e.g. linux/amd64',
    ],
    [
      'export of an invalid image name',
      ['export', '-o', 'b.tar', '--registry', 'http://127.0.0.1:9', 'UPPER:1'],
      2,
      'regctl: UPPER:1: "UPPER" is not a repository name',
    ],
    [
      'export from a registry nobody answers for',
      ['export', '-o', 'unreachable.tar', '--registry', 'http://127.0.0.1:9', 'tools/app:1'],
      1,
      'regctl export: tools/app:1: the registry at http://127.0.0.1:9 is unreachable (connection refused)',
    ],
    [
      'import of a missing bundle',
      ['import', 'missing.tar', '--registry', 'http://127.0.0.1:9'],
      1,
      'regctl import: missing.tar: no such file',
    ],
  ])('%s', (_, args, code, message) => {
    const result = regctl(args);
    expect(result.code).toBe(code);
    const output = result.stdout + result.stderr;
    if (code === 2 && args.length <= 1) expect(result.stdout).toBe(''); // usage errors go to stderr
    expect(output).toContain(message);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('leaves no bundle, not even a partial one, when the export fails', async () => {
    expect(regctl(['export', '-o', 'failed.tar', '--registry', 'http://127.0.0.1:9', 'tools/app:1']).code).toBe(1);
    expect((await readdir(dir)).filter((name) => name.includes('failed'))).toEqual([]);
  });
});
