/**
 * The benchmarks' curl pull client (bench/lib/curl.ts): the config it feeds curl, the
 * parsing of curl's per-transfer report, the checks that turn a short, failed or missing transfer
 * into an error, and the whole call against a real curl and a loopback server.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort } from '../../test/helpers/free-port.ts';
import {
  blobTransfers,
  CurlPullError,
  checkTransfers,
  cpuMsPerGiB,
  curlArgs,
  curlPull,
  formatCurlConfig,
  mibPerSecond,
  parseTimes,
  parseWriteOut,
} from './curl.ts';

describe('formatCurlConfig', () => {
  it('writes the headers once, then a url / output pair per transfer in order', () => {
    const config = formatCurlConfig(
      [
        { url: 'http://127.0.0.1:5000/v2/a/blobs/sha256:1', size: 1 },
        { url: 'http://127.0.0.1:5000/v2/a/blobs/sha256:2', size: 2 },
      ],
      { authorization: 'Basic dXNlcjpwYXNz' },
    );
    expect(config).toBe(
      [
        'header = "authorization: Basic dXNlcjpwYXNz"',
        'url = "http://127.0.0.1:5000/v2/a/blobs/sha256:1"',
        'output = "/dev/null"',
        'url = "http://127.0.0.1:5000/v2/a/blobs/sha256:2"',
        'output = "/dev/null"',
        '',
      ].join('\n'),
    );
  });

  it('escapes quotes and backslashes, and refuses line breaks and bad header names', () => {
    expect(formatCurlConfig([], { 'x-a': 'say "hi" \\o/' })).toBe('header = "x-a: say \\"hi\\" \\\\o/"\n');
    expect(() => formatCurlConfig([{ url: 'http://x/\nurl = "http://y"', size: 1 }])).toThrow(/line break/);
    expect(() => formatCurlConfig([], { 'x-a': 'a\r\nb: c' })).toThrow(/line break/);
    expect(() => formatCurlConfig([], { 'bad name': 'v' })).toThrow(/header name/);
  });
});

describe('curlArgs', () => {
  it('reads the config from stdin, runs transfers in parallel only when asked, and bounds the time', () => {
    const sequential = curlArgs(1, 90_500);
    expect(sequential).toEqual(expect.arrayContaining(['-K', '-', '--max-time', '91']));
    expect(sequential).not.toContain('-Z');
    const parallel = curlArgs(8, 60_000);
    expect(parallel.slice(parallel.indexOf('-Z'))).toEqual(['-Z', '--parallel-immediate', '--parallel-max', '8']);
    expect(curlArgs(1000, 1000).at(-1)).toBe('300');
    expect(() => curlArgs(0, 1000)).toThrow(/parallel/);
    expect(() => curlArgs(1.5, 1000)).toThrow(/parallel/);
  });
});

describe('parseWriteOut', () => {
  it('reads one result per line', () => {
    const text = '0 200 1048576 0.012345 http://127.0.0.1:1/v2/a/blobs/sha256:1\n18 200 500 0.5 http://h/b\n';
    expect(parseWriteOut(text)).toEqual([
      { exitCode: 0, status: 200, bytes: 1048576, seconds: 0.012345, url: 'http://127.0.0.1:1/v2/a/blobs/sha256:1' },
      { exitCode: 18, status: 200, bytes: 500, seconds: 0.5, url: 'http://h/b' },
    ]);
    expect(parseWriteOut('')).toEqual([]);
  });

  it('throws on a line that is not a report', () => {
    expect(() => parseWriteOut('curl: (7) Failed to connect\n')).toThrow(/unexpected line/);
    expect(() => parseWriteOut('0 200 12 0.1\n')).toThrow(/unexpected line/);
  });
});

describe('checkTransfers', () => {
  const ok = (url: string, bytes: number) => ({ url, bytes, exitCode: 0, status: 200, seconds: 0.1 });

  it('accepts complete 200s, each report matched to one request of its URL', () => {
    const expected = [
      { url: 'u1', size: 10 },
      { url: 'u2', size: 20 },
      { url: 'u1', size: 10 },
    ];
    expect(checkTransfers(expected, [ok('u2', 20), ok('u1', 10), ok('u1', 10)], 0)).toEqual([]);
  });

  it('rejects a short body, a non-200 answer, a failed transfer and a failed curl', () => {
    const expected = [
      { url: 'u1', size: 10 },
      { url: 'u2', size: 20 },
      { url: 'u3', size: 30 },
    ];
    const results = [ok('u1', 9), { ...ok('u2', 20), status: 404 }, { ...ok('u3', 30), exitCode: 56 }];
    expect(checkTransfers(expected, results, 56)).toEqual([
      'curl exited with 56',
      'u1: 9 bytes received, 10 expected',
      'u2: HTTP 404',
      'u3: curl error 56',
    ]);
    expect(checkTransfers([{ url: 'u1', size: 10 }], [ok('u1', 10)], null)).toEqual(['curl exited with a signal']);
  });

  it('rejects missing reports and reports of URLs not asked for (or asked for fewer times)', () => {
    const expected = [
      { url: 'u1', size: 10 },
      { url: 'u2', size: 20 },
    ];
    expect(checkTransfers(expected, [ok('u1', 10)], 0)).toEqual(['1 transfer(s) never reported: u2']);
    expect(checkTransfers(expected, [ok('u1', 10), ok('u2', 20), ok('u1', 10)], 0)).toEqual([
      'u1: reported but not requested (or reported too often)',
    ]);
  });
});

describe('parseTimes', () => {
  it("adds the children's user and system time of bash's `times`", () => {
    expect(parseTimes('0m0.003s 0m0.001s\n1m2.500s 0m0.250s\n')).toBeCloseTo(62.75, 6);
    expect(parseTimes('')).toBeNull();
    expect(parseTimes('0m0.003s 0m0.001s\n')).toBeNull();
  });
});

describe('blobTransfers, mibPerSecond, cpuMsPerGiB', () => {
  it('cycles through the blobs for the count asked, each with its size', () => {
    const blobs = [
      { digest: 'sha256:aa', size: 3 },
      { digest: 'sha256:bb', size: 5 },
    ];
    expect(blobTransfers('http://127.0.0.1:1', 'x/y', blobs, 3)).toEqual([
      { url: 'http://127.0.0.1:1/v2/x/y/blobs/sha256:aa', size: 3 },
      { url: 'http://127.0.0.1:1/v2/x/y/blobs/sha256:bb', size: 5 },
      { url: 'http://127.0.0.1:1/v2/x/y/blobs/sha256:aa', size: 3 },
    ]);
    expect(blobTransfers('http://h', 'n', blobs)).toHaveLength(2);
    expect(() => blobTransfers('http://h', 'n', [], 1)).toThrow(/no blobs/);
  });

  it('turns a result into MiB/s and client CPU ms per GiB', () => {
    const result = { wallMs: 500, bytes: 512 * 1024 * 1024, cpuSeconds: 0.1, transfers: [] };
    expect(mibPerSecond(result)).toBeCloseTo(1024, 6);
    expect(cpuMsPerGiB(result)).toBeCloseTo(200, 6);
    expect(cpuMsPerGiB({ ...result, cpuSeconds: null })).toBeNull();
    expect(cpuMsPerGiB({ ...result, bytes: 0 })).toBeNull();
  });
});

describe('curlPull, with a real curl', () => {
  let server: Server;
  let base: string;
  const seen: IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    server = createServer((req, res) => {
      seen.push(req.headers);
      const [, kind, n] = (req.url ?? '').split('/');
      const size = Number(n);
      if (kind === 'missing') {
        res.writeHead(404).end('{"errors":[]}');
        return;
      }
      res.writeHead(200, { 'content-length': String(size) });
      // `short` announces `size` bytes and closes the connection after half of them.
      let left = kind === 'short' ? Math.floor(size / 2) : size;
      while (left > 0) {
        res.write(chunk.subarray(0, Math.min(left, chunk.length)));
        left -= chunk.length;
      }
      if (kind === 'short') setTimeout(() => res.destroy(), 20);
      else res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('pulls every transfer, in parallel, with the headers, and reports bytes, times and CPU', async () => {
    seen.length = 0;
    const sized = Array.from({ length: 6 }, (_, i) => ({
      url: `${base}/ok/${(i + 1) * 300_000}`,
      size: (i + 1) * 300_000,
    }));
    const result = await curlPull({ transfers: sized, parallel: 3, headers: { authorization: 'Bearer abc' } });
    expect(result.bytes).toBe(sized.reduce((sum, t) => sum + t.size, 0));
    expect(result.transfers).toHaveLength(6);
    expect(result.transfers.every((t) => t.status === 200 && t.seconds >= 0)).toBe(true);
    expect(result.wallMs).toBeGreaterThan(0);
    expect(result.cpuSeconds).not.toBeNull();
    expect(result.cpuSeconds!).toBeGreaterThanOrEqual(0);
    expect(seen.map((h) => h.authorization)).toEqual(Array(6).fill('Bearer abc'));
  });

  it('pulls one after the other when parallel is 1', async () => {
    const result = await curlPull({
      transfers: [
        { url: `${base}/ok/10`, size: 10 },
        { url: `${base}/ok/10`, size: 10 },
      ],
      parallel: 1,
    });
    expect(result.transfers.map((t) => t.bytes)).toEqual([10, 10]);
  });

  it('throws on a body cut short, a 404, a size other than expected, and a refused connection', async () => {
    const cases: [string, number, RegExp][] = [
      [`${base}/short/200000`, 200_000, /curl error 18/],
      [`${base}/missing/1`, 13, /HTTP 404/],
      [`${base}/ok/100`, 101, /100 bytes received, 101 expected/],
      [`http://127.0.0.1:${await deadPort()}/x`, 1, /curl error 7/],
    ];
    for (const [url, size, message] of cases) {
      const failed = curlPull({
        transfers: [
          { url: `${base}/ok/5`, size: 5 },
          { url, size },
        ],
        parallel: 2,
      });
      await expect(failed).rejects.toThrow(CurlPullError);
      await expect(failed).rejects.toThrow(message);
    }
  });
});
