import { describe, expect, it } from 'vitest';
import { formatStatusReport, type StatusDocument } from '../../client/status-report.ts';

const base: StatusDocument = {
  planId: 'a'.repeat(64),
  startedAt: '2026-12-07T02:00:00.000Z',
  uptimeSeconds: 90,
  lastReload: { at: '2026-12-07T02:00:00.000Z', outcome: 'initial', ok: true, planId: 'a'.repeat(64) },
  listeners: [],
  repositories: [{ name: 'hub', type: 'proxy' }],
};
const health = {
  lastSuccessAt: '2026-12-07T02:01:00.000Z',
  lastErrorAt: null,
  lastError: null,
  rateLimitRemaining: null,
  rateLimitLimit: null,
};
const closed: { state: string; consecutiveFailures: number; nextRetryAt: string | null; lastError: string | null } = {
  state: 'closed',
  consecutiveFailures: 0,
  nextRetryAt: null,
  lastError: null,
};

describe('regctl status: upstream endpoints', () => {
  it('lists each endpoint of a proxy with mirrors, with an open breaker and its next try', () => {
    const { text } = formatStatusReport(
      {
        ...base,
        upstreams: [
          {
            name: 'hub',
            url: 'http://r',
            ...health,
            endpoints: [
              {
                url: 'http://a',
                role: 'mirror',
                state: 'open',
                consecutiveFailures: 2,
                nextRetryAt: '2026-12-07T02:01:02.000Z',
                lastError: 'GET http://a/v2/: connection refused',
              },
              { url: 'http://r', role: 'remote', ...closed },
            ],
          },
        ],
      },
      'http://127.0.0.1:5000',
    );
    expect(text).toContain(
      '    mirror http://a: OPEN after 2 failures, next try 2026-12-07T02:01:02.000Z: GET http://a/v2/: connection refused',
    );
    expect(text).toContain('    remote http://r: closed');
  });

  it('says nothing more for a single healthy endpoint, and shows it when rate-limited', () => {
    const one = (endpoint: Partial<typeof closed> & { state: string }) =>
      formatStatusReport(
        {
          ...base,
          upstreams: [
            {
              name: 'hub',
              url: 'http://r',
              ...health,
              endpoints: [{ url: 'http://r', role: 'remote', ...closed, ...endpoint }],
            },
          ],
        },
        'x',
      ).text;
    expect(one(closed)).not.toContain('remote http://r');
    expect(
      one({
        ...closed,
        state: 'rate-limited',
        nextRetryAt: '2026-12-07T02:01:05.000Z',
        lastError: 'rate limited (429)',
      }),
    ).toContain('    remote http://r: RATE-LIMITED, next try 2026-12-07T02:01:05.000Z: rate limited (429)');
  });
});
