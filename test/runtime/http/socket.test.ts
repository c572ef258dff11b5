/** Behaviour only a real socket shows: errors after a consumed body, aborted uploads, big bodies. */
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { Client, request } from 'undici';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RegistryError } from '../../../runtime/oci/errors.ts';
import { ListenerSet } from '../../../runtime/server/listeners.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, makePlan, sha256, silentLog } from './fakes.ts';

let world: FakeWorld;
let holder: PlanHolder;
let listeners: ListenerSet;
let url: string;
let port: number;

beforeEach(async () => {
  world = new FakeWorld();
  const plan = makePlan();
  holder = new PlanHolder(await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories }));
  listeners = new ListenerSet({ holder, log: silentLog });
  await listeners.applyListeners(null, plan);
  ({ url, port } = listeners.get('127.0.0.1:0')!);
});
afterEach(async () => {
  await listeners.close();
  await holder.close();
});

it('an error after the body was read is still rendered (digest mismatch on a single POST)', async () => {
  const res = await request(`${url}/v2/app/blobs/uploads/?digest=${sha256('other')}`, {
    method: 'POST',
    body: 'hello',
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(res.statusCode).toBe(400);
  expect(((await res.body.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DIGEST_INVALID');
});

it('a manifest body over 4 MiB sent without Content-Length is refused with 413 and the body drained', async () => {
  async function* chunks() {
    for (let i = 0; i < 5; i++) yield Buffer.alloc(1024 * 1024, 0x20);
  }
  const res = await request(`${url}/v2/app/manifests/big`, {
    method: 'PUT',
    body: Readable.from(chunks()),
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(res.statusCode).toBe(413);
  expect(((await res.body.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('MANIFEST_INVALID');
  // the connection stays usable
  const next = await request(`${url}/v2/`);
  expect(next.statusCode).toBe(200);
  await next.body.dump();
});

it('an error while an upload body still arrives closes the connection after the answer: the next request is served', async () => {
  // As the store does when its disk fills: it fails after the first bytes, the rest of the body unread.
  world.repositories.get('private')!.appendUpload = async (_image, _id, _offset, body) => {
    await new Promise((resolve) => body.once('data', resolve));
    body.pause(); // the store stopped reading: the rest of the body stays on the connection
    throw new RegistryError('STORE_FULL', { message: 'blob store default is full' });
  };
  // One connection, so the next request must go where the unread body was.
  const client = new Client(url, { pipelining: 1, headersTimeout: 5000, bodyTimeout: 5000 });
  try {
    const post = await client.request({ path: '/v2/app/blobs/uploads/', method: 'POST' });
    await post.body.dump();
    async function* chunks() {
      for (let i = 0; i < 16; i++) yield Buffer.alloc(1024 * 1024, 0x61);
    }
    const patched = await client.request({
      path: new URL(post.headers.location as string, url).pathname,
      method: 'PATCH',
      body: Readable.from(chunks()),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(patched.statusCode).toBe(507);
    expect(patched.headers.connection).toBe('close');
    expect(((await patched.body.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('STORE_FULL');
    for (let i = 0; i < 3; i++) {
      const next = await client.request({ path: '/v2/', method: 'GET' });
      expect(next.statusCode).toBe(200);
      await next.body.dump();
    }
  } finally {
    await client.destroy();
  }
});

it('a client that aborts mid-upload leaves the server serving and releases its state', async () => {
  const post = await request(`${url}/v2/app/blobs/uploads/`, { method: 'POST' });
  await post.body.dump();
  const location = post.headers.location as string;
  await new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123`,
      );
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 100);
    });
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(holder.inFlight).toBe(0);
  const status = await request(`${url}/-/health`);
  expect(status.statusCode).toBe(200);
  await status.body.dump();
});
