/** The benchmark's reading of another process's CPU time (`/proc/<pid>/stat`). */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { readCpuSeconds } from './cpu.ts';

describe('readCpuSeconds', () => {
  it('counts the CPU time a process has used, user and system', async () => {
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);']);
    const exited = once(child, 'exit');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await readCpuSeconds(child.pid as number);
    expect(during).not.toBeNull();
    expect(during).toBeGreaterThan(0.1); // busy since it started, 300 ms ago
    await exited;
  });

  it('gives null for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    await once(child, 'exit');
    expect(await readCpuSeconds(child.pid as number)).toBeNull();
  });
});
