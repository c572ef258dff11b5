/** GNU time's report as the GC benchmark reads it, and a real run under it. */
import { describe, expect, it } from 'vitest';
import { parseTimeReport, timedRun } from './timed-run.ts';

const REPORT = [
  '\tCommand being timed: "node -e 0"',
  '\tUser time (seconds): 1.25',
  '\tSystem time (seconds): 0.50',
  '\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:02.10',
  '\tMaximum resident set size (kbytes): 204800',
  '\tExit status: 0',
  '',
].join('\n');

describe('parseTimeReport', () => {
  it('reads peak RSS in MiB, CPU seconds and the exit status', () => {
    expect(parseTimeReport(REPORT)).toEqual({ peakRssMiB: 200, userSeconds: 1.25, systemSeconds: 0.5, exitStatus: 0 });
  });

  it('throws on text that is not a GNU time report', () => {
    expect(() => parseTimeReport('real 0m1.0s\n')).toThrow(/Maximum resident set size/);
  });
});

describe('timedRun', () => {
  it('measures a process that holds about 64 MiB, and passes its output through', async () => {
    const script = 'const b = Buffer.alloc(64 * 1024 * 1024, 1); console.log(b[5]);';
    const result = await timedRun(process.execPath, ['-e', script], { timeoutMs: 20_000 });
    expect(result.stdout.trim()).toBe('1');
    expect(result.peakRssMiB).toBeGreaterThan(64);
    expect(result.peakRssMiB).toBeLessThan(400);
    expect(result.wallMs).toBeGreaterThan(0);
  });

  it('throws with the stderr of a command that fails', async () => {
    await expect(
      timedRun(process.execPath, ['-e', 'console.error("boom"); process.exit(3)'], { timeoutMs: 20_000 }),
    ).rejects.toThrow(/exited 3:\nboom/);
  });
});
