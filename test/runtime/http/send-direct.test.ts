/**
 * `sendDirect`: the route's status and headers go out with the first chunk, so a body that cannot
 * be read at all still becomes an error response; one that fails midway cuts the connection (a
 * short body, never a complete wrong one); an empty body is a complete empty answer.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { sendDirect } from '../../../runtime/http/send-direct.ts';
import type { ChunkTarget, DirectSendable } from '../../../runtime/storage/blob-store.ts';

/** A body writing `chunks`, then failing with `error` if given. */
function body(chunks: string[], error?: Error): DirectSendable {
  return {
    async sendTo(target: ChunkTarget) {
      for (const chunk of chunks) {
        await new Promise<void>((done, fail) => target.write(Buffer.from(chunk), (e) => (e ? fail(e) : done())));
      }
      if (error) throw error;
    },
  };
}

let app: FastifyInstance;
afterEach(() => app.close());

async function serve(send: DirectSendable, length: number): Promise<string> {
  app = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    void reply.code(500).send({ errors: [{ code: 'UNKNOWN', message: (error as Error).message }] });
  });
  app.get('/blob', async (_request, reply) => {
    reply.code(200).header('content-length', String(length)).header('docker-content-digest', 'sha256:x');
    await sendDirect(reply, send);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/blob`;
}

describe('sendDirect', () => {
  it('sends the route’s status and headers with the body', async () => {
    const res = await fetch(await serve(body(['hello ', 'world']), 11));
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe('sha256:x');
    expect(await res.text()).toBe('hello world');
  });

  it('answers an empty body completely', async () => {
    const res = await fetch(await serve(body([]), 0));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('turns a body that fails before its first byte into an error response', async () => {
    const res = await fetch(await serve(body([], new Error('EIO: i/o error, read')), 11));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ errors: [{ code: 'UNKNOWN', message: 'EIO: i/o error, read' }] });
  });

  it('cuts the connection when the body fails midway: the client never gets a complete answer', async () => {
    const res = await fetch(await serve(body(['hello '], new Error('EIO: i/o error, read')), 11));
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });
});
