/**
 * Why an upstream request failed: each failure's code and `reason` (the words a proxy repository
 * puts into its client's error message), and that no credential, token or proxy header ever gets
 * into either. Auth refusals use undici's MockAgent; refused connections, a silent upstream and a
 * proxy refusing its tunnel use real sockets on loopback, so undici's own errors are what is mapped.
 */
import { errors, MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../../../runtime/upstream/client.ts';
import {
  formatTimeout,
  fromNetworkError,
  type UpstreamError,
  withoutUserinfo,
} from '../../../runtime/upstream/errors.ts';
import { startRefusingProxy, startSilentServer } from '../../helpers/failing-peers.ts';
import { freePort } from '../../helpers/free-port.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const UPSTREAM = 'http://upstream.test';
const AUTH = 'http://auth.test';
const SECRET = 'pa55-secret-w0rd';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let agent: MockAgent;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(async () => {
  await agent.close();
});

type Options = ConstructorParameters<typeof UpstreamClient>[0];
const defaults = { url: UPSTREAM, credentials: null, timeoutMs: 1000, httpProxy: null, log: silent, retryDelayMs: 1 };
/** A client over the MockAgent. */
const client = (extra: Partial<Options> = {}) => new UpstreamClient({ ...defaults, dispatcher: agent, ...extra });

/** The error a call rejects with, after checking that nothing in it shows `secrets`. */
async function failure(call: Promise<unknown>, ...secrets: string[]): Promise<UpstreamError> {
  const error = (await call.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  )) as UpstreamError;
  const shown = `${error.message}\n${error.reason}\n${error.upstreamMessage ?? ''}`;
  for (const secret of secrets) expect(shown).not.toContain(secret);
  return error;
}

/** Runs `body` with a real client (no MockAgent), closing it afterwards. */
async function withRealClient(options: Partial<Options>, body: (c: UpstreamClient) => Promise<void>) {
  const c = new UpstreamClient({ ...defaults, timeoutMs: 2000, ...options });
  try {
    await body(c);
  } finally {
    await c.close();
  }
}

describe('UpstreamClient failure reasons (real sockets)', () => {
  it('a closed port: UPSTREAM_UNREACHABLE because the connection was refused', async () => {
    const port = await freePort();
    await withRealClient({ url: `http://127.0.0.1:${port}` }, async (c) => {
      const error = await failure(c.getManifest('team/app', 'v1'));
      expect(error).toMatchObject({ code: 'UPSTREAM_UNREACHABLE', reason: 'connection refused' });
    });
  });

  it('an upstream that accepts and never answers: UPSTREAM_TIMEOUT after the configured timeout', async () => {
    const hung = await startSilentServer();
    try {
      await withRealClient({ url: hung.url, timeoutMs: 150 }, async (c) => {
        const error = await failure(c.getManifest('team/app', 'v1'));
        expect(error).toMatchObject({ code: 'UPSTREAM_TIMEOUT', reason: 'after 150ms waiting for a response' });
      });
      expect(hung.connections()).toBe(1); // timeouts are not retried
    } finally {
      await hung.stop();
    }
  });

  it('an outbound proxy refusing the CONNECT tunnel: UPSTREAM_PROXY_REFUSED naming the proxy and the target', async () => {
    const proxy = await startRefusingProxy(403);
    try {
      const httpProxy = { url: proxy.url, auth: null, noProxy: [] };
      await withRealClient({ url: 'https://127.0.0.1:5999', httpProxy }, async (c) => {
        const error = await failure(c.headManifest('team/app', 'v1'));
        expect(error).toMatchObject({
          code: 'UPSTREAM_PROXY_REFUSED',
          reason: `the outbound proxy ${proxy.url} refused the CONNECT tunnel to 127.0.0.1:5999 (403)`,
        });
      });
      expect(proxy.requests).toEqual(['CONNECT 127.0.0.1:5999']);
    } finally {
      await proxy.stop();
    }
  });

  it('a 407 to our proxy credentials: says they were refused, and shows neither them nor the header', async () => {
    const proxy = await startRefusingProxy(407);
    try {
      const httpProxy = {
        url: proxy.url,
        auth: { username: 'proxy-user', password: { env: 'PROXY_PW' } },
        noProxy: [],
      };
      await withRealClient({ url: 'https://127.0.0.1:5999', httpProxy, proxyPassword: SECRET }, async (c) => {
        const header = basic('proxy-user', SECRET);
        const error = await failure(c.headManifest('team/app', 'v1'), SECRET, header.slice(6));
        expect(error).toMatchObject({
          code: 'UPSTREAM_PROXY_REFUSED',
          reason: `the outbound proxy ${proxy.url} refused our proxy credentials (407)`,
        });
        expect(proxy.authorizations).toEqual([header]); // they were sent, to the proxy only
      });
    } finally {
      await proxy.stop();
    }
  });
});

describe('UpstreamClient failure reasons (auth)', () => {
  const challenge = `Bearer realm="${AUTH}/token",service="reg"`;
  /** The upstream asks for a token for team/app; the token service answers `status` with `body`. */
  const tokenAnswers = (status: number, body = '') => {
    agent
      .get(UPSTREAM)
      .intercept({ path: '/v2/team/app/manifests/v1', method: 'GET' })
      .reply(401, '', { headers: { 'www-authenticate': challenge } });
    agent
      .get(AUTH)
      .intercept({ path: (p) => p.startsWith('/token?'), method: 'GET' })
      .reply(status, body);
  };

  it('a token service refusing our credentials: UPSTREAM_CREDENTIALS_REFUSED, no secret shown', async () => {
    tokenAnswers(401, '{"details":"bad credentials"}');
    const credentials = { username: 'robot', password: SECRET };
    const error = await failure(
      client({ credentials }).getManifest('team/app', 'v1'),
      SECRET,
      basic('robot', SECRET).slice(6),
    );
    expect(error).toMatchObject({
      code: 'UPSTREAM_CREDENTIALS_REFUSED',
      status: 401,
      reason: `401 from the token service ${AUTH}/token`,
    });
  });

  it('a token service refusing an anonymous token: UPSTREAM_UNAUTHORIZED (no access, not our credentials)', async () => {
    tokenAnswers(403);
    const error = await failure(client().getManifest('team/app', 'v1'));
    expect(error).toMatchObject({
      code: 'UPSTREAM_UNAUTHORIZED',
      reason: `the token service ${AUTH}/token refused an anonymous token (403)`,
    });
  });

  it('a Basic registry refusing our credentials: UPSTREAM_CREDENTIALS_REFUSED from the registry', async () => {
    const pool = agent.get(UPSTREAM);
    pool
      .intercept({ path: '/v2/team/app/manifests/v1', method: 'GET' })
      .reply(401, '', { headers: { 'www-authenticate': 'Basic realm="r"' } })
      .times(2);
    const error = await failure(
      client({ credentials: { username: 'u', password: SECRET } }).getManifest('team/app', 'v1'),
      SECRET,
      basic('u', SECRET).slice(6),
    );
    expect(error).toMatchObject({ code: 'UPSTREAM_CREDENTIALS_REFUSED', reason: '401 from the registry' });
  });

  it('a Basic challenge with no credentials configured, and a token without access: UPSTREAM_UNAUTHORIZED', async () => {
    const pool = agent.get(UPSTREAM);
    pool
      .intercept({ path: '/v2/team/app/manifests/v1', method: 'GET' })
      .reply(401, '', { headers: { 'www-authenticate': 'Basic realm="r"' } });
    const asks = await failure(client().getManifest('team/app', 'v1'));
    expect(asks).toMatchObject({
      code: 'UPSTREAM_UNAUTHORIZED',
      reason: '401: it asks for credentials and none are configured',
    });
    // Docker Hub's answer for an image that does not exist: a token, then 401 again.
    pool
      .intercept({ path: '/v2/library/nope/manifests/1', method: 'GET' })
      .reply(401, '', { headers: { 'www-authenticate': challenge } })
      .times(2);
    agent
      .get(AUTH)
      .intercept({ path: (p) => p.startsWith('/token?'), method: 'GET' })
      .reply(200, { token: 'T-anonymous' })
      .times(2); // the refused token is dropped and fetched again once
    const missing = await failure(client().getManifest('library/nope', '1'), 'T-anonymous');
    expect(missing).toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED', reason: '401 with a token issued anonymously' });
  });

  it("keeps the message of the upstream's OCI error body", async () => {
    const body = { errors: [{ code: 'UNAVAILABLE', message: 'storage\u0000is read-only' }] };
    agent.get(UPSTREAM).intercept({ path: '/v2/a/manifests/1', method: 'GET' }).reply(503, body).times(3);
    const error = await failure(client().getManifest('a', '1'));
    expect(error).toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      reason: 'unexpected status 503',
      upstreamMessage: 'storage is read-only',
    });
  });
});

describe('fromNetworkError', () => {
  const proxy = { url: 'http://127.0.0.1:3128', credentials: false };

  it("reads undici's proxy refusals only for requests that went through a proxy", () => {
    const tunnel = new errors.RequestAbortedError('Proxy response (502) !== 200 when HTTP Tunneling');
    expect(fromNetworkError(tunnel, 'GET x', { proxy, target: 'registry.test:443' })).toMatchObject({
      code: 'UPSTREAM_UNREACHABLE',
      reason: 'the outbound proxy http://127.0.0.1:3128 could not open a tunnel to registry.test:443 (502)',
    });
    const absolute = new errors.InvalidArgumentError('Proxy Authentication Required (407)');
    expect(fromNetworkError(absolute, 'GET x', { proxy })).toMatchObject({
      code: 'UPSTREAM_PROXY_REFUSED',
      reason: 'the outbound proxy http://127.0.0.1:3128 requires credentials (407) and none are configured',
    });
    expect(fromNetworkError(absolute, 'GET x').code).toBe('UPSTREAM_UNREACHABLE');
  });

  it('names the connection that failed: the proxy, a token service, or the upstream', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3128'), { code: 'ECONNREFUSED' });
    expect(fromNetworkError(refused, 'GET x', { proxy }).reason).toBe(
      'the outbound proxy http://127.0.0.1:3128: connection refused',
    );
    const lookup = Object.assign(new Error('getaddrinfo ENOTFOUND auth.test'), { code: 'ENOTFOUND' });
    expect(fromNetworkError(lookup, 'GET x', { peer: 'the token service http://auth.test/token' }).reason).toBe(
      'the token service http://auth.test/token: host name not found',
    );
    const connect = Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    expect(fromNetworkError(connect, 'GET x', { proxy, timeoutMs: 30_000 })).toMatchObject({
      code: 'UPSTREAM_TIMEOUT',
      reason: 'after 30s waiting to connect to the outbound proxy http://127.0.0.1:3128',
    });
    const odd = Object.assign(new Error('something else'), { code: 'EWEIRD' });
    expect(fromNetworkError(odd, 'GET x')).toMatchObject({
      code: 'UPSTREAM_UNREACHABLE',
      reason: 'something else (EWEIRD)',
    });
  });

  it('formats timeouts as the config writes them, and drops userinfo from URLs', () => {
    expect([formatTimeout(30_000), formatTimeout(1500), formatTimeout(250)]).toEqual(['30s', '1.5s', '250ms']);
    expect(withoutUserinfo(`http://me:${SECRET}@proxy.test:3128`)).toBe('http://proxy.test:3128');
    expect(withoutUserinfo('https://registry.test')).toBe('https://registry.test');
  });
});
