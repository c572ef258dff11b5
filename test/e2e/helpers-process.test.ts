/**
 * The failure paths of the daemon helpers every end-to-end test starts from: a daemon that dies
 * before it is ready, or never answers, fails fast with a message naming it and its log tail.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { waitForHttp, waitUntil } from '../helpers/process.ts';
import { startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

describe('daemon helpers', () => {
  it('waitUntil fails at once when the child exits, with its exit code and context', async () => {
    const child = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    await expect(
      waitUntil(async () => false, 'the daemon', { child, timeoutMs: 20_000, describe: () => 'log tail' }),
    ).rejects.toThrow(/^the daemon: process exited with 3 before it was ready\nlog tail$/);
  });

  it('waitForHttp gives up after its timeout, with the last status (0: nothing listens)', async () => {
    const url = `http://127.0.0.1:${await freePort()}/v2/`;
    await expect(waitForHttp(url, { timeoutMs: 300 })).rejects.toThrow(
      `${url} (expecting 200): not ready within 300 ms\n(last status: 0)`,
    );
  });

  it('startRegctl reports a config regctl refuses with the log of the failed start', async () => {
    const start = startRegctl({
      dir: await dirs.make(),
      config: {
        blobStores: [{ name: 'default', type: 'file', path: './data' }],
        repositories: [{ name: 'private', type: 'hosted', blobStore: 'missing' }],
        listeners: [{ repository: 'private' }],
      },
    });
    await expect(start).rejects.toThrow(/-\/health \(expecting 200\): process exited with \d+ before it was ready/);
    await expect(start).rejects.toThrow(/missing/);
  });
});
