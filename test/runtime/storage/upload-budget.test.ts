/**
 * UploadBudget (runtime/storage/upload-budget.ts): the accounting the drivers' tests rely on, on
 * its own: reservations against the cap, and a scan that never undoes what happened while it ran.
 */
import { describe, expect, it } from 'vitest';
import { isStorageError } from '../../../runtime/storage/errors.ts';
import { formatBytes, UploadBudget } from '../../../runtime/storage/upload-budget.ts';

describe('UploadBudget', () => {
  it('counts recorded sessions and appends in flight against the cap', () => {
    const budget = new UploadBudget('default', 100);
    budget.record('a', 40);
    const append = budget.reserve();
    append.take(50);
    expect(budget.inProgressBytes).toBe(90);
    let refused: unknown;
    try {
      append.take(11);
    } catch (error) {
      refused = error;
    }
    expect(isStorageError(refused, 'STORAGE_UPLOAD_LIMIT')).toBe(true);
    expect((refused as { uploads: unknown }).uploads).toEqual({ maxBytes: 100, inProgressBytes: 40 });
    expect(budget.inProgressBytes).toBe(90); // the refused chunk took nothing
    budget.record('b', 50); // the append is recorded, then its reservation released
    append.release();
    append.release(); // idempotent
    expect(budget.inProgressBytes).toBe(90);
    budget.forget('a');
    expect([budget.inProgressBytes, budget.sessions]).toEqual([50, 1]);
  });

  it('never refuses without a cap', () => {
    const budget = new UploadBudget('default', null);
    budget.reserve().take(Number.MAX_SAFE_INTEGER);
    expect(budget.maxBytes).toBeNull();
  });

  it("takes a scan's figures only for sessions untouched since the scan began", () => {
    const budget = new UploadBudget('default', null);
    budget.record('old', 10);
    budget.record('gone', 5);
    budget.record('committed-during-scan', 7);
    const scan = budget.scanStarted();
    budget.record('appended-during-scan', 30); // the scan read it at 20
    budget.record('created-during-scan', 0); // the listing missed it
    budget.forget('committed-during-scan'); // the scan still saw it
    budget.applyScan(
      scan,
      new Map([
        ['old', 12],
        ['appended-during-scan', 20],
        ['committed-during-scan', 7],
        ['other-replica', 100],
      ]),
    );
    expect(budget.inProgressBytes).toBe(12 + 30 + 0 + 100);
    expect(budget.sessions).toBe(4);
    // The next scan replaces everything it lists (nothing was touched since it began).
    budget.applyScan(budget.scanStarted(), new Map([['other-replica', 1]]));
    expect([budget.inProgressBytes, budget.sessions]).toEqual([1, 1]);
  });

  it('formats sizes readably and exactly', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(786_432)).toBe('768 KiB (786432 bytes)');
    expect(formatBytes(1024 ** 3)).toBe('1 GiB (1073741824 bytes)');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB (1610612736 bytes)');
    expect(formatBytes(20 * 1024 ** 3)).toBe('20 GiB (21474836480 bytes)');
  });
});
