import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../client/progress.ts';

/** A stream that records what is written, as a terminal or not. */
function stream(isTTY: boolean) {
  const written: string[] = [];
  return { out: { isTTY, write: (chunk: string) => written.push(chunk) > 0 } as never, written };
}

describe('ProgressBar', () => {
  it('draws in place on a terminal, notes lines above it, and ends its line', () => {
    const { out, written } = stream(true);
    const bar = new ProgressBar(out, 2048, 'exporting 2 images');
    bar.advance(2048);
    expect(written.at(-1)).toBe(`\r[${'#'.repeat(30)}] exporting 2 images: 2.0 KiB of 2.0 KiB   `);
    bar.note('FAILED x');
    expect(written.slice(-2)).toEqual(['\r\x1b[KFAILED x\n', expect.stringMatching(/^\r\[#+\]/)]);
    bar.finish();
    expect(written.at(-1)).toBe('\n');
  });

  it('writes nothing but notes when not a terminal', () => {
    const { out, written } = stream(false);
    const bar = new ProgressBar(out, 100, 'importing');
    bar.advance(50);
    bar.note('a line');
    bar.finish();
    expect(written).toEqual(['a line\n']);
  });
});
