/**
 * The client's writes (what `regctl import` pushes with): a Buffer body is sent again after an
 * auth round, a stream body is sent once with the Authorization the previous request earned, and
 * an absolute upload Location is followed as given.
 */
import { Readable } from 'node:stream';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../../../runtime/upstream/client.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const UPSTREAM = 'http://upstream.test';
const BASIC = `Basic ${Buffer.from('ops:secret').toString('base64')}`;

let agent: MockAgent;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(async () => {
  await agent.close();
});

const client = () =>
  new UpstreamClient({
    url: UPSTREAM,
    credentials: { username: 'ops', password: 'secret' },
    timeoutMs: 1000,
    httpProxy: null,
    log: silent,
    dispatcher: agent,
  });

describe('UpstreamClient.write', () => {
  it('answers a Basic challenge and sends a Buffer body again; later writes carry it up front', async () => {
    const pool = agent.get(UPSTREAM);
    const seen: (string | undefined)[] = [];
    const bodies: string[] = [];
    const answer =
      (statusCode: number, headers: Record<string, string> = {}) =>
      (opts: { headers?: unknown; body?: unknown }) => {
        seen.push((opts.headers as Record<string, string>).authorization);
        bodies.push(Buffer.isBuffer(opts.body) ? opts.body.toString() : typeof opts.body);
        return { statusCode, data: '', responseOptions: { headers } };
      };
    pool
      .intercept({ path: '/v2/app/manifests/1', method: 'PUT' })
      .reply(answer(401, { 'www-authenticate': 'Basic realm="r"' }));
    pool.intercept({ path: '/v2/app/manifests/1', method: 'PUT' }).reply(answer(201));
    pool.intercept({ path: '/v2/app/blobs/uploads/abc?digest=sha256:00', method: 'PUT' }).reply(answer(201));
    const c = client();
    const put = await c.write({
      method: 'PUT',
      path: 'v2/app/manifests/1',
      scope: 'repository:app:pull,push',
      body: Buffer.from('{"a":1}'),
    });
    expect(put.response.status).toBe(201);
    expect(put.authorization).toBe(BASIC);
    const blob = await c.write({
      method: 'PUT',
      path: `${UPSTREAM}/v2/app/blobs/uploads/abc?digest=sha256:00`,
      scope: 'repository:app:pull,push',
      body: Readable.from([Buffer.from('bytes')]),
    });
    expect(blob.response.status).toBe(201);
    expect(seen).toEqual([undefined, BASIC, BASIC]);
    expect(bodies.slice(0, 2)).toEqual(['{"a":1}', '{"a":1}']);
    await c.close();
  });

  it('returns the 401 of a stream body rather than sending it twice', async () => {
    const pool = agent.get(UPSTREAM);
    pool
      .intercept({ path: '/v2/app/blobs/uploads/x', method: 'PUT' })
      .reply(401, '', { headers: { 'www-authenticate': 'Basic realm="r"' } });
    const c = client();
    const { response } = await c.write({
      method: 'PUT',
      path: 'v2/app/blobs/uploads/x',
      scope: 'repository:app:pull,push',
      body: Readable.from([Buffer.from('bytes')]),
    });
    expect(response.status).toBe(401);
    agent.assertNoPendingInterceptors();
    await c.close();
  });
});
