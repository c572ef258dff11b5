/**
 * AuditLog on its own: lines to a file (JSON with `time` first), to stdout with `file: 'stdout'`,
 * a reopen after the file was renamed (logrotate), a path that cannot be opened failing `prepare`
 * (nothing changed), and a path change switching files at `commit`.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../../runtime/audit/audit-log.ts';
import { TmpDirs } from '../../helpers/tmp.ts';
import { silentLog } from '../http/fakes.ts';

const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());
afterEach(() => {
  vi.restoreAllMocks();
});

const lines = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function open(file: string, counted?: boolean[]): Promise<AuditLog> {
  const audit = new AuditLog({ log: silentLog, ...(counted ? { onLine: (ok) => counted.push(ok) } : {}) });
  await (await audit.prepare({ file })).commit();
  return audit;
}

describe('AuditLog', () => {
  it('appends one JSON object per line, time first; every line counted', async () => {
    const file = join(await dirs.make(), 'logs', 'audit.log');
    const counted: boolean[] = [];
    const audit = await open(file, counted);
    audit.write({ action: 'push', result: 'ok', user: null, addr: '::1', repository: 'r', tag: 'v1' });
    audit.write({ action: 'delete', result: 'failed', user: 'ci', error: 'MANIFEST_UNKNOWN' });
    await audit.close();
    const written = await lines(file);
    expect(written).toEqual([
      { time: expect.any(String), action: 'push', result: 'ok', user: null, addr: '::1', repository: 'r', tag: 'v1' },
      { time: expect.any(String), action: 'delete', result: 'failed', user: 'ci', error: 'MANIFEST_UNKNOWN' },
    ]);
    expect(Object.keys(written[0]!)[0]).toBe('time');
    expect(counted).toEqual([true, true]);
  });

  it("writes to stdout with file: 'stdout', and a reopen leaves it so", async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const audit = await open('stdout');
    audit.write({ action: 'reload', result: 'ok' });
    await audit.reopen();
    audit.write({ action: 'reload', result: 'failed' });
    await audit.close();
    expect(written.map((line) => JSON.parse(line) as { result: string }).map((l) => l.result)).toEqual([
      'ok',
      'failed',
    ]);
  });

  it('reopen after a rename: old lines stay in the renamed file, new ones go to a new file', async () => {
    const file = join(await dirs.make(), 'audit.log');
    const audit = await open(file);
    audit.write({ action: 'push', result: 'ok', tag: 'before' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await rename(file, `${file}.1`);
    audit.write({ action: 'push', result: 'ok', tag: 'between' }); // still the old file: not reopened yet
    await audit.reopen();
    audit.write({ action: 'push', result: 'ok', tag: 'after' });
    await audit.close();
    expect((await lines(`${file}.1`)).map((l) => l.tag)).toEqual(['before', 'between']);
    expect((await lines(file)).map((l) => l.tag)).toEqual(['after']);
  });

  it('a path that cannot be opened fails prepare and changes nothing; a new path is used from commit', async () => {
    const dir = await dirs.make();
    const file = join(dir, 'audit.log');
    const audit = await open(file);
    await writeFile(join(dir, 'not-a-dir'), 'x');
    await expect(audit.prepare({ file: join(dir, 'not-a-dir', 'audit.log') })).rejects.toThrow(
      /audit log .*not-a-dir.* cannot be opened/,
    );
    audit.write({ action: 'reload', result: 'failed' });
    await mkdir(join(dir, 'next'));
    const change = await audit.prepare({ file: join(dir, 'next', 'audit.log') });
    audit.write({ action: 'reload', result: 'ok', n: 1 }); // before commit: the old file
    await change.commit();
    audit.write({ action: 'reload', result: 'ok', n: 2 });
    await audit.close();
    expect((await lines(file)).map((l) => l.result)).toEqual(['failed', 'ok']);
    expect((await lines(join(dir, 'next', 'audit.log'))).map((l) => l.n)).toEqual([2]);
  });
});
