import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_PROXY_OBSERVER } from '../../../runtime/events.ts';
import { createProxyUpstream } from '../../../runtime/repositories/proxy/upstream.ts';
import { UpstreamClient } from '../../../runtime/upstream/client.ts';
import { type EndpointRole, UpstreamEndpoints } from '../../../runtime/upstream/endpoints.ts';
import type { UpstreamError } from '../../../runtime/upstream/errors.ts';
import { proxyPlan, testLog } from '../../helpers/proxy-setup.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const A = 'http://mirror-a.test';
const B = 'http://mirror-b.test';
const R = 'http://remote.test';
const TAGS = '/v2/app/tags/list?n=1000';
const AUTH_A = 'http://auth-a.test';
const AUTH_R = 'http://auth-r.test';

let agent: MockAgent;
/** A second agent without the tag-list interceptors of `agent`, for the auth test. */
let tokenAgent: MockAgent;
let clock: { now: number };
/** What each origin answers next (persisting), and how often it was asked. */
let answers: Record<string, number | 'down'>;
let hits: Record<string, number>;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  tokenAgent = new MockAgent();
  tokenAgent.disableNetConnect();
  clock = { now: 1_000_000 };
  answers = { [A]: 200, [B]: 200, [R]: 200 };
  hits = { [A]: 0, [B]: 0, [R]: 0 };
  for (const origin of [A, B, R]) {
    const pool = agent.get(origin);
    pool
      .intercept({ path: TAGS, method: 'GET' })
      .reply((): { statusCode: number; data: string; responseOptions?: { headers: Record<string, string> } } => {
        hits[origin]!++;
        const answer = answers[origin]!;
        if (answer === 'down') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        if (answer === 429) return { statusCode: 429, data: '', responseOptions: { headers: { 'retry-after': '5' } } };
        return { statusCode: answer, data: answer === 200 ? JSON.stringify({ tags: [origin] }) : '' };
      })
      .persist();
  }
});
afterEach(async () => {
  await agent.close();
  await tokenAgent.close();
});

function endpoints(list: [EndpointRole, string][]) {
  return new UpstreamEndpoints(
    list.map(([role, url]) => ({
      role,
      client: new UpstreamClient({
        url,
        credentials: null,
        timeoutMs: 1000,
        httpProxy: null,
        log: silent,
        dispatcher: agent,
        retries: 0,
      }),
    })),
    { now: () => clock.now, baseMs: 1000, capMs: 8000 },
  );
}

const three = (): [EndpointRole, string][] => [
  ['mirror', A],
  ['mirror', B],
  ['remote', R],
];

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    return error as UpstreamError;
  }
  throw new Error('expected a failure');
}

describe('UpstreamEndpoints', () => {
  it('asks the endpoints in order and stops at the first that serves', async () => {
    const upstream = endpoints(three());
    expect(await upstream.listTags('app')).toEqual([A]);
    expect(hits).toEqual({ [A]: 1, [B]: 0, [R]: 0 });
  });

  it('skips a failed mirror for its back-off, then tries it again and closes its breaker', async () => {
    const upstream = endpoints(three());
    answers[A] = 'down';
    expect(await upstream.listTags('app')).toEqual([B]);
    expect(upstream.endpointHealth[0]).toMatchObject({ url: A, role: 'mirror', state: 'open', consecutiveFailures: 1 });
    expect(upstream.endpointHealth[0]!.nextRetryAt).toBe(new Date(clock.now + 1000).toISOString());
    expect(upstream.endpointHealth[0]!.lastError).toMatch(/ECONNREFUSED|refused/);
    expect(await upstream.listTags('app')).toEqual([B]);
    expect(hits[A]).toBe(1);
    answers[A] = 200;
    clock.now += 1000;
    expect(upstream.endpointHealth[0]!.state).toBe('half-open');
    expect(await upstream.listTags('app')).toEqual([A]);
    expect(hits[A]).toBe(2);
    expect(upstream.endpointHealth[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0, nextRetryAt: null });
  });

  it('a 5xx opens the breaker like a connection error; a 404 falls through without counting against it', async () => {
    const upstream = endpoints(three());
    answers[A] = 503;
    answers[B] = 404;
    expect(await upstream.listTags('app')).toEqual([R]);
    const [a, b] = upstream.endpointHealth;
    expect(a!.state).toBe('open');
    expect(b!.state).toBe('closed');
  });

  it('not found only when every endpoint says so', async () => {
    const upstream = endpoints(three());
    answers[A] = answers[B] = answers[R] = 404;
    expect((await failure(upstream.listTags('app'))).code).toBe('UPSTREAM_NOT_FOUND');
    answers[R] = 'down';
    const error = await failure(upstream.listTags('app'));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.endpoint).toBe(R);
  });

  it('names every endpoint that failed when several did', async () => {
    const upstream = endpoints(three());
    answers[A] = answers[B] = answers[R] = 'down';
    const error = await failure(upstream.listTags('app'));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.endpoint).toBe(`${R} and its mirrors`);
    expect(error.reason).toContain(`mirror ${A}: `);
    expect(error.reason).toContain(`mirror ${B}: `);
    expect(error.reason).toContain(`${R}: `);
  });

  it('when every endpoint is open, asks them anyway (one endpoint: every request asks it)', async () => {
    const upstream = endpoints(three());
    answers[A] = answers[B] = answers[R] = 'down';
    await failure(upstream.listTags('app'));
    await failure(upstream.listTags('app'));
    expect(hits).toEqual({ [A]: 2, [B]: 2, [R]: 2 });
    answers[R] = 200;
    expect(await upstream.listTags('app')).toEqual([R]);

    const single = endpoints([['remote', R]]);
    answers[R] = 'down';
    await failure(single.listTags('app'));
    answers[R] = 200;
    expect(await single.listTags('app')).toEqual([R]);
  });

  it('429 Retry-After: no request to that endpoint until then; the next one serves meanwhile', async () => {
    const upstream = endpoints(three());
    answers[A] = 429;
    expect(await upstream.listTags('app')).toEqual([B]);
    expect(upstream.endpointHealth[0]).toMatchObject({
      state: 'rate-limited',
      nextRetryAt: new Date(clock.now + 5000).toISOString(),
    });
    answers[A] = 200;
    clock.now += 4999;
    expect(await upstream.listTags('app')).toEqual([B]);
    expect(hits[A]).toBe(1);
    clock.now += 1;
    expect(await upstream.listTags('app')).toEqual([A]);
    expect(hits[A]).toBe(2);
  });

  it('429 with no other endpoint: the rate limit, its time counting down, no request before it', async () => {
    const upstream = endpoints([['remote', R]]);
    answers[R] = 429;
    const first = await failure(upstream.listTags('app'));
    expect(first).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 5 });
    clock.now += 2000;
    const second = await failure(upstream.listTags('app'));
    expect(second).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 3, retryAt: 1_005_000 });
    expect(hits[R]).toBe(1);
    clock.now += 3000;
    answers[R] = 200;
    expect(await upstream.listTags('app')).toEqual([R]);
  });

  it('several rate limits and nothing else: the soonest', async () => {
    const upstream = endpoints([
      ['mirror', A],
      ['remote', R],
    ]);
    answers[A] = answers[R] = 429;
    await failure(upstream.listTags('app'));
    clock.now += 3000;
    // A's window has 2 s left, R's as well: both are answered from memory.
    const error = await failure(upstream.listTags('app'));
    expect(error).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 2 });
    expect(hits).toMatchObject({ [A]: 1, [R]: 1 });
  });
});

describe('maxConcurrency', () => {
  it('bounds the requests in flight to one upstream; the rest queue and all succeed', async () => {
    let active = 0;
    let peak = 0;
    const server = createServer((_request, response) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"tags":["x"]}');
      }, 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new UpstreamClient({
      url,
      credentials: null,
      timeoutMs: 5000,
      httpProxy: null,
      log: silent,
      maxConcurrency: 2,
    });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => client.listTags('app')));
      expect(results.every((tags) => tags[0] === 'x')).toBe(true);
      expect(peak).toBe(2);
      expect(client.load).toEqual({ active: 0, queued: 0 });
    } finally {
      await client.close();
      server.close();
    }
  });
});

describe('remote.auth across endpoints (createProxyUpstream)', () => {
  it('sends the same credentials to every endpoint and keeps each token with the endpoint that got it', async () => {
    const auth = { username: 'bot', password: { env: 'UP_PW' } };
    const plan = proxyPlan(R, { remote: { url: R, auth, mirrors: [A], mirrorsFirst: true } });
    const { client } = createProxyUpstream(
      plan,
      { env: { UP_PW: 'pw' }, log: testLog(), dispatcher: tokenAgent },
      NO_PROXY_OBSERVER,
    );
    const basic = `Basic ${Buffer.from('bot:pw').toString('base64')}`;
    const sent: Record<string, (string | undefined)[]> = { [A]: [], [R]: [] };
    const tokenCalls: Record<string, (string | undefined)[]> = { [AUTH_A]: [], [AUTH_R]: [] };
    for (const [origin, realm, token] of [
      [A, AUTH_A, 'token-a'],
      [R, AUTH_R, 'token-r'],
    ] as const) {
      tokenAgent
        .get(realm)
        .intercept({ path: (p) => p.startsWith('/token?'), method: 'GET' })
        .reply(200, (opts) => {
          tokenCalls[realm]!.push((opts.headers as Record<string, string>).authorization);
          return { token, expires_in: 300 };
        })
        .persist();
      tokenAgent
        .get(origin)
        .intercept({ path: TAGS, method: 'GET' })
        .reply((opts) => {
          const authorization = (opts.headers as Record<string, string>).authorization;
          sent[origin]!.push(authorization);
          if (authorization !== `Bearer ${token}`) {
            return {
              statusCode: 401,
              data: '',
              responseOptions: {
                headers: {
                  'www-authenticate': `Bearer realm="${realm}/token",service="s",scope="repository:app:pull"`,
                },
              },
            };
          }
          // The mirror lacks the image: the request falls through to the remote.
          return origin === A ? { statusCode: 404, data: '' } : { statusCode: 200, data: '{"tags":["r"]}' };
        })
        .persist();
    }
    try {
      expect(await client.listTags('app')).toEqual(['r']);
      expect(await client.listTags('app')).toEqual(['r']);
      expect(tokenCalls).toEqual({ [AUTH_A]: [basic], [AUTH_R]: [basic] });
      expect(sent[A]).toEqual([undefined, 'Bearer token-a', 'Bearer token-a']);
      expect(sent[R]).toEqual([undefined, 'Bearer token-r', 'Bearer token-r']);
    } finally {
      await client.close();
    }
  });
});
