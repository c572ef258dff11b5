import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../../../runtime/upstream/client.ts';
import { isUpstreamError } from '../../../runtime/upstream/errors.ts';
import { parseChallenges } from '../../../runtime/upstream/token-auth.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const UPSTREAM = 'http://upstream.test';
const AUTH = 'http://auth.test';

let agent: MockAgent;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(async () => {
  await agent.close();
});

function client(extra: Partial<ConstructorParameters<typeof UpstreamClient>[0]> = {}) {
  return new UpstreamClient({
    url: UPSTREAM,
    credentials: null,
    timeoutMs: 1000,
    httpProxy: null,
    log: silent,
    dispatcher: agent,
    retryDelayMs: 1,
    ...extra,
  });
}

describe('parseChallenges', () => {
  it('parses a Bearer challenge with quoted parameters', () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/alpine:pull',
      },
    });
  });
  it('parses several challenges in one header', () => {
    const list = parseChallenges('Basic realm="r", Bearer realm="http://a/t",service=s');
    expect(list.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(list[1]!.params).toEqual({ realm: 'http://a/t', service: 's' });
  });
});

describe('UpstreamClient', () => {
  it('runs the Bearer flow, caches the token and sends it up front next time', async () => {
    const pool = agent.get(UPSTREAM);
    const auth = agent.get(AUTH);
    const challenge = `Bearer realm="${AUTH}/token",service="reg",scope="repository:library/alpine:pull"`;
    pool
      .intercept({ path: '/v2/library/alpine/manifests/3', method: 'HEAD' })
      .reply(401, '', { headers: { 'www-authenticate': challenge } });
    let tokenRequests = 0;
    auth.intercept({ path: (p) => p.startsWith('/token?'), method: 'GET' }).reply(200, (opts) => {
      tokenRequests++;
      expect(opts.path).toContain('service=reg');
      expect(opts.path).toContain('scope=repository%3Alibrary%2Falpine%3Apull');
      expect((opts.headers as Record<string, string>).authorization).toBe(
        `Basic ${Buffer.from('u:p').toString('base64')}`,
      );
      return { token: 'T1', expires_in: 300 };
    });
    const seen: (string | undefined)[] = [];
    pool
      .intercept({ path: '/v2/library/alpine/manifests/3', method: 'HEAD' })
      .reply(
        200,
        (opts) => {
          seen.push((opts.headers as Record<string, string>).authorization);
          return '';
        },
        {
          headers: {
            'docker-content-digest': 'sha256:abc',
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'content-length': '12',
          },
        },
      )
      .times(2);
    const c = client({ credentials: { username: 'u', password: 'p' } });
    const first = await c.headManifest('library/alpine', '3');
    expect(first).toEqual({ digest: 'sha256:abc', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 12 });
    await c.headManifest('library/alpine', '3');
    expect(tokenRequests).toBe(1);
    expect(seen).toEqual(['Bearer T1', 'Bearer T1']);
  });

  it('refreshes a token the upstream rejects', async () => {
    const pool = agent.get(UPSTREAM);
    const challenge = `Bearer realm="${AUTH}/token",service="reg",scope="repository:a:pull"`;
    const tokens = ['T1', 'T2'];
    agent
      .get(AUTH)
      .intercept({ path: (p) => p.startsWith('/token'), method: 'GET' })
      .reply(200, () => ({ token: tokens.shift() }))
      .times(2);
    pool
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' })
      .reply(401, '', { headers: { 'www-authenticate': challenge } });
    pool
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' })
      .reply(200, '', { headers: { 'content-length': '5' } });
    // the cached T1 is revoked: 401 again → a new token
    pool
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD', headers: { authorization: 'Bearer T1' } })
      .reply(401, '', {
        headers: { 'www-authenticate': challenge },
      });
    pool
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD', headers: { authorization: 'Bearer T2' } })
      .reply(200, '', {
        headers: { 'content-length': '5' },
      });
    const c = client();
    expect(await c.headBlob('a', 'sha256:1')).toEqual({ size: 5 });
    expect(await c.headBlob('a', 'sha256:1')).toEqual({ size: 5 });
    expect(tokens).toEqual([]);
  });

  it('sends Basic credentials when the upstream asks for them', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/tags/list?n=1000', method: 'GET' }).reply(401, '', {
      headers: { 'www-authenticate': 'Basic realm="Registry Realm"' },
    });
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    pool
      .intercept({ path: '/v2/a/tags/list?n=1000', method: 'GET', headers: { authorization: basic } })
      .reply(200, { name: 'a', tags: ['b', 'a'] });
    expect(await client({ credentials: { username: 'u', password: 'p' } }).listTags('a')).toEqual(['a', 'b']);
  });

  it('retries 503 with backoff, then succeeds', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' }).reply(503, '').times(2);
    pool
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' })
      .reply(200, '', { headers: { 'content-length': '3' } });
    expect(await client().headBlob('a', 'sha256:1')).toEqual({ size: 3 });
  });

  it('gives up after the retries with UPSTREAM_BAD_RESPONSE', async () => {
    agent.get(UPSTREAM).intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' }).reply(502, '').times(3);
    await expect(client().headBlob('a', 'sha256:1')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      status: 502,
    });
  });

  it('retries a refused connection and reports UPSTREAM_UNREACHABLE', async () => {
    const error = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    agent.get(UPSTREAM).intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' }).replyWithError(error).times(3);
    await expect(client().headBlob('a', 'sha256:1')).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
  });

  it('maps 404, 401 and 429 (with Retry-After) to stable codes', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/manifests/x', method: 'GET' }).reply(404, {});
    pool.intercept({ path: '/v2/a/manifests/y', method: 'GET' }).reply(403, {});
    pool.intercept({ path: '/v2/a/manifests/z', method: 'GET' }).reply(429, {}, { headers: { 'retry-after': '42' } });
    const c = client();
    await expect(c.getManifest('a', 'x')).rejects.toMatchObject({ code: 'UPSTREAM_NOT_FOUND' });
    await expect(c.getManifest('a', 'y')).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
    const limited = await c.getManifest('a', 'z').catch((e: unknown) => e);
    expect(isUpstreamError(limited, 'UPSTREAM_RATE_LIMITED') && limited.retryAfterSeconds).toBe(42);
  });

  it('times out a silent upstream with UPSTREAM_TIMEOUT (real socket on loopback)', async () => {
    const server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const c = new UpstreamClient({
      url: `http://127.0.0.1:${port}`,
      credentials: null,
      timeoutMs: 100,
      httpProxy: null,
      log: silent,
    });
    try {
      await expect(c.getManifest('a', 'x')).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    } finally {
      await c.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('follows a blob redirect to a CDN without forwarding the Authorization', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/blobs/sha256:1', method: 'GET' }).reply(401, '', {
      headers: { 'www-authenticate': 'Basic realm="r"' },
    });
    pool.intercept({ path: '/v2/a/blobs/sha256:1', method: 'GET' }).reply(307, '', {
      headers: { location: 'http://cdn.test/blob/1?sig=x' },
    });
    let cdnAuthorization: string | undefined = 'unset';
    agent
      .get('http://cdn.test')
      .intercept({ path: '/blob/1?sig=x', method: 'GET' })
      .reply(
        200,
        (opts) => {
          cdnAuthorization = (opts.headers as Record<string, string>).authorization;
          return 'hello';
        },
        { headers: { 'content-length': '5' } },
      );
    const blob = await client({ credentials: { username: 'u', password: 'p' } }).getBlob('a', 'sha256:1');
    expect(blob.size).toBe(5);
    const chunks: Buffer[] = [];
    for await (const chunk of blob.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    expect(cdnAuthorization).toBeUndefined();
  });

  it('follows Link pagination of tags', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/tags/list?n=1000', method: 'GET' }).reply(
      200,
      { tags: ['1', '2'] },
      {
        headers: { link: '</v2/a/tags/list?n=1000&last=2>; rel="next"' },
      },
    );
    pool.intercept({ path: '/v2/a/tags/list?n=1000&last=2', method: 'GET' }).reply(200, { tags: ['3'] });
    expect(await client().listTags('a')).toEqual(['1', '2', '3']);
  });

  it('answers odd but well-formed bodies without a stack trace: JSON null tags or referrers, bad JSON', async () => {
    const pool = agent.get(UPSTREAM);
    pool.intercept({ path: '/v2/a/tags/list?n=1000', method: 'GET' }).reply(200, 'null');
    pool.intercept({ path: `/v2/a/referrers/sha256:1`, method: 'GET' }).reply(200, 'null');
    pool.intercept({ path: '/v2/b/tags/list?n=1000', method: 'GET' }).reply(200, '{"tags":');
    pool.intercept({ path: `/v2/b/referrers/sha256:1`, method: 'GET' }).reply(405, '');
    expect(await client().listTags('a')).toEqual([]);
    expect(await client().listReferrers('a', 'sha256:1')).toEqual([]);
    await expect(client().listTags('b')).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
    expect(await client().listReferrers('b', 'sha256:1')).toEqual([]);
  });

  it('with tagFallback, a registry without the referrers API is asked for the sha256-<hex> tag', async () => {
    const pool = agent.get(UPSTREAM);
    const subject = 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const other = 'sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: other, size: 2 }],
    });
    pool.intercept({ path: `/v2/a/referrers/${subject}`, method: 'GET' }).reply(404, '');
    pool
      .intercept({
        path: '/v2/a/manifests/sha256-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        method: 'GET',
      })
      .reply(200, index, { headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } });
    pool.intercept({ path: `/v2/b/referrers/${subject}`, method: 'GET' }).reply(405, '');
    pool
      .intercept({
        path: '/v2/b/manifests/sha256-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        method: 'GET',
      })
      .reply(404, '');
    pool.intercept({ path: `/v2/c/referrers/${subject}`, method: 'GET' }).reply(404, '');
    expect(await client().listReferrers('a', subject, { tagFallback: true })).toEqual([
      expect.objectContaining({ digest: other }),
    ]);
    // No fallback tag either: no referrers. Without the option the tag is never asked for.
    expect(await client().listReferrers('b', subject, { tagFallback: true })).toEqual([]);
    expect(await client().listReferrers('c', subject)).toEqual([]);
  });

  it('refuses a blob HEAD without a usable Content-Length', async () => {
    agent
      .get(UPSTREAM)
      .intercept({ path: '/v2/a/blobs/sha256:1', method: 'HEAD' })
      .reply(200, '', { headers: { 'content-length': 'many' } });
    await expect(client().headBlob('a', 'sha256:1')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: expect.stringMatching(/Content-Length/),
    });
  });

  it('refuses an oversized, null or token-less token response with UPSTREAM_BAD_RESPONSE', async () => {
    const pool = agent.get(UPSTREAM);
    const auth = agent.get(AUTH);
    const bodies = ['x'.repeat(2 * 1024 * 1024), 'null', '{"expires_in":60}'];
    for (const [i, body] of bodies.entries()) {
      const challenge = `Bearer realm="${AUTH}/token",service="reg",scope="repository:r${i}:pull"`;
      pool
        .intercept({ path: `/v2/r${i}/manifests/1`, method: 'GET' })
        .reply(401, '', { headers: { 'www-authenticate': challenge } });
      auth.intercept({ path: (p) => p.includes(`r${i}`), method: 'GET' }).reply(200, body);
    }
    const c = client();
    await expect(c.getManifest('r0', '1')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: expect.stringMatching(/larger than/),
    });
    await expect(c.getManifest('r1', '1')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: expect.stringMatching(/sent no token/),
    });
    await expect(c.getManifest('r2', '1')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: expect.stringMatching(/sent no token/),
    });
  });
});
