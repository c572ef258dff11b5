/**
 * The benchmarks' ApacheBench runner (bench/lib/ab.ts): the figures read from ab's text
 * report and percentile CSV, and the report it refuses (connections not kept alive).
 */
import { describe, expect, it } from 'vitest';
import { parseAbReport } from './ab.ts';

/** The lines of an `ab -k` report that the parser reads, around ab's other lines. */
function report(lines: { complete: number; failed: number; keepAlive?: number; non2xx?: number; seconds: number }) {
  return [
    'Concurrency Level:      8',
    `Time taken for tests:   ${lines.seconds.toFixed(3)} seconds`,
    `Complete requests:      ${lines.complete}`,
    `Failed requests:        ${lines.failed}`,
    ...(lines.non2xx === undefined ? [] : [`Non-2xx responses:      ${lines.non2xx}`]),
    ...(lines.keepAlive === undefined ? [] : [`Keep-Alive requests:    ${lines.keepAlive}`]),
    'Total transferred:      1500 bytes',
    'Requests per second:    1529.64 [#/sec] (mean)',
    '',
  ].join('\n');
}

const CSV = [
  'Percentage served,Time in ms',
  '0,0.100',
  '49,0.700',
  '50,0.726',
  '51,0.730',
  '99,4.250',
  '100,5.000',
  '',
].join('\n');

describe('parseAbReport', () => {
  it('counts the complete, kept-alive requests and reads p50 and p99 from the CSV', () => {
    const result = parseAbReport(report({ complete: 1000, failed: 0, keepAlive: 1000, seconds: 2 }), CSV);
    expect(result).toEqual({ requests: 1000, errors: 0, seconds: 2, rps: 500, p50Ms: 0.726, p99Ms: 4.25 });
  });

  it('counts non-2xx answers and failed requests as errors, not as requests', () => {
    const result = parseAbReport(report({ complete: 1000, failed: 3, non2xx: 7, keepAlive: 1000, seconds: 1 }), CSV);
    expect(result.requests).toBe(990);
    expect(result.errors).toBe(10);
    expect(result.rps).toBe(990);
  });

  it('refuses a run in which ab opened a new connection for some requests', () => {
    expect(() => parseAbReport(report({ complete: 1000, failed: 0, keepAlive: 600, seconds: 1 }), CSV)).toThrow(
      /only 600 of 1000 requests were kept alive/,
    );
  });

  it('refuses a report without a Keep-Alive line (ab run without -k, or a format it does not know)', () => {
    expect(() => parseAbReport(report({ complete: 1000, failed: 0, seconds: 1 }), CSV)).toThrow(/kept alive/);
  });

  it('gives NaN percentiles when the CSV has none', () => {
    const result = parseAbReport(report({ complete: 10, failed: 0, keepAlive: 10, seconds: 1 }), '');
    expect(result.p50Ms).toBeNaN();
    expect(result.p99Ms).toBeNaN();
  });
});
