/**
 * The benchmarks' wrk runner (bench/lib/wrk.ts): the figures read from wrk's `--latency`
 * report, non-2xx answers and socket errors counted as errors, and a run with no 2xx refused.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { luaScript, parseWrkReport, runWrk } from './wrk.ts';

function report(extra: string[]) {
  return [
    'Running 1s test @ http://127.0.0.1:5000/v2/bench/app/manifests/1',
    '  1 threads and 8 connections',
    '  Thread Stats   Avg      Stdev     Max   +/- Stdev',
    '    Latency   118.95us  374.90us   5.31ms   95.48%',
    '  Latency Distribution',
    '     50%   43.00us',
    '     75%   53.00us',
    '     90%   68.00us',
    '     99%    2.21ms',
    '  40000 requests in 1.10s, 5.08MB read',
    ...extra,
    'Requests/sec:  36000.00',
    'Transfer/sec:      4.62MB',
    '',
  ].join('\n');
}

describe('parseWrkReport', () => {
  it('reads requests, req/s and p50/p99 in ms', () => {
    expect(parseWrkReport(report([]), 1)).toEqual({
      requests: 40000,
      errors: 0,
      seconds: 1,
      rps: 36000,
      p50Ms: 0.043,
      p99Ms: 2.21,
    });
  });

  it('counts non-2xx answers and socket errors as errors, and only the 2xx in req/s', () => {
    const result = parseWrkReport(
      report(['  Socket errors: connect 1, read 2, write 3, timeout 4', '  Non-2xx or 3xx responses: 10000']),
      1,
    );
    expect(result.requests).toBe(30000);
    expect(result.errors).toBe(10010);
    expect(result.rps).toBe(27000);
  });

  it('gives no successful request when every answer was non-2xx (runWrk then throws)', () => {
    expect(parseWrkReport(report(['  Non-2xx or 3xx responses: 40000']), 1).requests).toBe(0);
  });
});

describe('runWrk', () => {
  it('throws when no answer was 2xx, naming the request', async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await expect(
        runWrk({
          origin: `http://127.0.0.1:${port}`,
          method: 'GET',
          path: '/v2/missing',
          headers: {},
          connections: 2,
          seconds: 1,
          warmupSeconds: 0,
        }),
      ).rejects.toThrow(/wrk: no successful GET \/v2\/missing/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports the CPU time the server process spent over the measured run when given its pid', async () => {
    // The server is this process: its CPU time answers the requests (and little else meanwhile).
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const options = {
        origin: `http://127.0.0.1:${port}`,
        method: 'GET' as const,
        path: '/',
        headers: {},
        connections: 2,
        seconds: 1,
        warmupSeconds: 0,
      };
      const measured = await runWrk({ ...options, cpuOf: process.pid });
      expect(measured.requests).toBeGreaterThan(100);
      expect(measured.serverCpuSeconds).toBeGreaterThan(0.05); // a second of answering requests
      expect(measured.serverCpuSeconds).toBeLessThan(5);
      expect((await runWrk(options)).serverCpuSeconds).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('paces each connection by delayMs: 2 connections pausing 20 ms make at most ~100 req/s', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const paced = await runWrk({
        origin: `http://127.0.0.1:${port}`,
        method: 'GET',
        path: '/',
        headers: {},
        connections: 2,
        seconds: 1,
        warmupSeconds: 0,
        delayMs: 20,
      });
      expect(paced.requests).toBeGreaterThan(20);
      expect(paced.rps).toBeLessThan(110);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('luaScript', () => {
  it('sets the method and headers, and a delay() only when pacing', () => {
    expect(luaScript('HEAD', { accept: 'x' })).toBe('wrk.method = "HEAD"\nwrk.headers["accept"] = "x"\n');
    expect(luaScript('GET', {}, 5)).toBe('wrk.method = "GET"\nfunction delay() return 5 end\n');
  });
});
