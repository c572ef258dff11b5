/**
 * What a listener does about connections, over real sockets on 127.0.0.1 with short limits:
 * requests Node's parser refuses and CONNECT get the OCI error body, the header deadline, the idle
 * policy (the client owes → closed; the server owes → kept), keep-alive idling, and the 503 while
 * draining.
 */
import { connect } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionLimits } from '../../../runtime/http/limits.ts';
import { ListenerSet } from '../../../runtime/server/listeners.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { type RawAnswer, rawExchange } from '../../helpers/raw-http.ts';
import { FakeWorld, makePlan, sha256, silentLog } from './fakes.ts';

interface Served {
  world: FakeWorld;
  holder: PlanHolder;
  listeners: ListenerSet;
  port: number;
  url: string;
}

let served: Served | undefined;
afterEach(async () => {
  await served?.listeners.close();
  await served?.holder.close();
  served = undefined;
});

async function serve(limits: Partial<ConnectionLimits> = {}): Promise<Served> {
  const world = new FakeWorld();
  const plan = makePlan();
  const holder = new PlanHolder(
    await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories }),
  );
  const listeners = new ListenerSet({ holder, log: silentLog, limits, drainTimeoutMs: 2000 });
  await listeners.applyListeners(null, plan);
  const { port, url } = listeners.get('127.0.0.1:0')!;
  served = { world, holder, listeners, port, url };
  return served;
}

/** Writes `parts` (strings, or pauses in ms) and reads until the server closes, at most `boundMs`. */
function exchange(port: number, parts: readonly (string | number)[], boundMs = 3000): Promise<RawAnswer> {
  return rawExchange(port, parts, { boundMs });
}

function ociCode(answer: RawAnswer): string | undefined {
  return (JSON.parse(answer.body) as { errors: { code: string }[] }).errors[0]?.code;
}

describe('requests refused before routing answer with the OCI body', () => {
  const cases: [string, string, number, string][] = [
    ['unknown method', 'FOO /v2/ HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'UNSUPPORTED'],
    [
      'bad Content-Length',
      'PUT /v2/a/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'two Content-Lengths',
      'PUT /v2/a/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      400,
      'SIZE_INVALID',
    ],
    [
      'Content-Length with chunked',
      'PUT /v2/a/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'broken chunk size',
      'PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'UNSUPPORTED'],
    ['absolute-form', 'GET http://other.example/v2/ HTTP/1.1\r\nHost: other.example\r\n\r\n', 400, 'UNSUPPORTED'],
    ['no Host', 'GET /v2/ HTTP/1.1\r\n\r\n', 400, 'UNSUPPORTED'],
    [
      'unknown Expect',
      'GET /v2/ HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nConnection: close\r\n\r\n',
      417,
      'UNSUPPORTED',
    ],
    ['oversized head', `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431, 'UNSUPPORTED'],
    [
      'bad percent-encoding',
      'GET /v2/a%zz/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      400,
      'NAME_INVALID',
    ],
    ['HTTP/2 without TLS', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, 'UNSUPPORTED'],
    ['bad version', 'GET /v2/ HTTP/7.1\r\nHost: x\r\n\r\n', 400, 'UNSUPPORTED'],
  ];
  it.each(cases)('%s', async (name, raw, status, code) => {
    const { port } = await serve();
    const answer = await exchange(port, [raw]);
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(ociCode(answer)).toBe(code);
    // Refused before fastify: the parser cannot go on, so the connection closes.
    if (!['absolute-form', 'no Host', 'unknown Expect', 'bad percent-encoding'].includes(name)) {
      expect(answer.closed).toBe(true);
      expect(answer.headers.connection).toBe('close');
    }
  });

  it('OPTIONS and PROPFIND on a v2 endpoint are 405 with Allow; elsewhere 404', async () => {
    const { url } = await serve();
    for (const method of ['OPTIONS', 'PROPFIND', 'TRACE']) {
      const res = await request(`${url}/v2/a/tags/list`, { method });
      expect(res.statusCode, method).toBe(405);
      expect(res.headers.allow, method).toBe('GET');
      expect(((await res.body.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNSUPPORTED');
    }
    const other = await request(`${url}/elsewhere`, { method: 'OPTIONS' });
    expect(other.statusCode).toBe(404);
    await other.body.dump();
  });

  it('a chunk broken in the middle of an upload: 400 SIZE_INVALID, the state released, serving on', async () => {
    const { port, url, holder } = await serve();
    const post = await request(`${url}/v2/app/blobs/uploads/`, { method: 'POST' });
    await post.body.dump();
    const location = post.headers.location as string;
    const answer = await exchange(port, [
      `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`,
      50,
      'nonsense\r\n',
    ]);
    expect(answer.status).toBe(400);
    expect(ociCode(answer)).toBe('SIZE_INVALID');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(holder.inFlight).toBe(0);
    const next = await request(`${url}/v2/`);
    expect(next.statusCode).toBe(200);
    await next.body.dump();
  });
});

describe('slow clients', () => {
  it('a request head trickling in past the header deadline gets 408 and is closed', async () => {
    const { port } = await serve({ headersTimeoutMs: 400 });
    const trickle = ['GET /v2/ HTTP/1.1\r\n', ...Array.from({ length: 30 }, () => [100, 'X-A: a\r\n']).flat()];
    const answer = await exchange(port, trickle);
    expect(answer.status).toBe(408);
    expect(ociCode(answer)).toBe('REQUEST_TIMEOUT');
    expect(answer.ms).toBeLessThan(1500);
    const silent = await exchange(port, []);
    expect(silent.closed).toBe(true);
    expect(silent.ms).toBeLessThan(1500);
  });

  it('a body that stops coming is cut after the idle timeout; a slow but moving one is not', async () => {
    const { port, url } = await serve({ idleTimeoutMs: 1000 });
    const post = await request(`${url}/v2/app/blobs/uploads/`, { method: 'POST' });
    await post.body.dump();
    const head = (location: string, length: number) =>
      `PATCH ${location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
    const stalled = await exchange(port, [head(post.headers.location as string, 100), 'only ten b']);
    expect(stalled.closed).toBe(true);
    expect(stalled.status).toBeUndefined();
    expect(stalled.ms).toBeLessThan(3000);

    const again = await request(`${url}/v2/app/blobs/uploads/`, { method: 'POST' });
    await again.body.dump();
    // 20 bytes, one every 100 ms: 2 s in all, twice the idle timeout, with a wide margin for a
    // loaded machine (client and server share this event loop).
    const moving = await exchange(
      port,
      [head(again.headers.location as string, 20), ...Array.from({ length: 20 }, () => [100, 'x']).flat()],
      5000,
    );
    expect(moving.status).toBe(202);
    expect(moving.headers.range).toBe('0-19');
  });

  it('a broken chunk Node does not report (the request asks for an upgrade) ends at the idle timeout', async () => {
    const { port } = await serve({ idleTimeoutMs: 300 });
    const answer = await exchange(port, [
      'PUT /v2/app/manifests/t HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ]);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(1500);
  });

  it('a server slower than the idle timeout keeps the connection (the client owes nothing)', async () => {
    const { url, world } = await serve({ idleTimeoutMs: 400 });
    const repository = world.repositories.get('private')!;
    repository.listTags = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1600));
      return ['slow'];
    };
    const res = await request(`${url}/v2/app/tags/list`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ name: 'app', tags: ['slow'] });
  });

  it('a body the server is slow to read is not the client stalling', async () => {
    // 4× the idle timeout of server-side delay; the timeout itself leaves room for a loaded
    // machine's client to start sending (400 ms failed under load: no byte had arrived yet).
    const { url, world } = await serve({ idleTimeoutMs: 800 });
    const repository = world.repositories.get('private')!;
    const append = repository.appendUpload.bind(repository);
    repository.appendUpload = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 3200));
      return append(...args);
    };
    const post = await request(`${url}/v2/app/blobs/uploads/`, { method: 'POST' });
    await post.body.dump();
    const res = await request(`${url}${post.headers.location as string}`, {
      method: 'PATCH',
      body: Buffer.alloc(8 * 1024 * 1024, 1),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.statusCode).toBe(202);
    expect(res.headers.range).toBe(`0-${8 * 1024 * 1024 - 1}`);
    await res.body.dump();
  });

  it('bytes sent in time but read late, after the event loop was held up, are not silence', async () => {
    // The body is written, then this process blocks its event loop past the idle timeout: when it
    // wakes, the socket timer runs before the loop reads the body bytes waiting in the kernel.
    const { port, world } = await serve({ idleTimeoutMs: 300 });
    const repository = world.repositories.get('private')!;
    const append = repository.appendUpload.bind(repository);
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    repository.appendUpload = async (...args) => {
      entered();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return append(...args);
    };
    const post = await request(`http://127.0.0.1:${port}/v2/app/blobs/uploads/`, { method: 'POST' });
    await post.body.dump();
    const location = post.headers.location as string;
    const body = Buffer.alloc(1024, 3);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    await inHandler;
    socket.write(body);
    const until = performance.now() + 700;
    while (performance.now() < until) {
      // Holds the event loop, as a stall would.
    }
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 202 Accepted');
    expect(answer).toMatch(/\r\nrange: 0-1023\r\n/i);
  });

  it('a client that stops reading a large blob is cut after the idle timeout', async () => {
    const { port, url } = await serve({ idleTimeoutMs: 300 });
    const blob = Buffer.alloc(48 * 1024 * 1024, 7);
    const digest = sha256(blob);
    const put = await request(`${url}/v2/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: blob,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.statusCode).toBe(201);
    await put.body.dump();
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /v2/app/blobs/${digest} HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.pause();
    });
    socket.on('error', () => undefined);
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const bound = setTimeout(() => reject(new Error('the server kept a connection nobody reads')), 5000);
      socket.once('close', () => {
        clearTimeout(bound);
        resolve();
      });
      // Closing is seen only by reading: let a little through every half second.
      const drip = setInterval(() => {
        socket.resume();
        setTimeout(() => socket.pause(), 1);
      }, 500);
      socket.once('close', () => clearInterval(drip));
    });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const { port } = await serve({ keepAliveTimeoutMs: 200 });
    const answer = await exchange(port, ['GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'], 4000);
    expect(answer.status).toBe(200);
    expect(answer.closed).toBe(true);
    // Node adds one second to the advertised keep-alive timeout.
    expect(answer.ms).toBeLessThan(2500);
  });
});

it('a request arriving while the listener drains gets 503 UNAVAILABLE in the OCI shape', async () => {
  const { port, listeners, world } = await serve();
  const repository = world.repositories.get('private')!;
  let release: () => void = () => undefined;
  repository.listTags = () => new Promise((resolve) => (release = () => resolve([])));
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (chunk) => {
    data += chunk;
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /v2/app/tags/list HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closing = listeners.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  release();
  await closing;
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  const second = data.slice(data.indexOf('HTTP/1.1', 10));
  expect(second).toMatch(/^HTTP\/1\.1 503/);
  expect(second).toContain('"code":"UNAVAILABLE"');
  expect(second.toLowerCase()).toContain('connection: close');
});
