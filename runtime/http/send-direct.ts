/**
 * Sending a blob body that can write itself to the response (`DirectSendable`, the file store's
 * reader): fastify is told the route answers by itself (`hijack`), the status and the headers the
 * route set go out as they are, and the body is written with the reader's two reused buffers
 * instead of piping a stream of fresh ones (see storage/drivers/file-read-stream.ts for why).
 *
 * The status line goes out with the first chunk, not before: a body that cannot be read at all
 * (the file went away, EIO at byte 0) still becomes an error response, through the route's error
 * handling. `onResponse` (the access log) still runs for a hijacked reply, with the same status
 * and `Content-Length`. A body that fails midway cannot turn into an error response any more (the
 * status line is out): the connection is destroyed, so the client sees a short body, never a
 * complete wrong one, and the failure is logged.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { ChunkTarget, DirectSendable } from '../storage/blob-store.ts';

export async function sendDirect(reply: FastifyReply, body: DirectSendable): Promise<void> {
  const response = reply.raw;
  let started = false;
  const start = () => {
    started = true;
    reply.hijack();
    response.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  };
  const target: ChunkTarget = {
    write(chunk, callback) {
      if (!started) start();
      return response.write(chunk, callback);
    },
    once: (event, listener) => response.once(event, listener),
    off: (event, listener) => response.off(event, listener),
    get destroyed() {
      return response.destroyed;
    },
  };
  try {
    await body.sendTo(target);
    if (!started) start(); // an empty body
    response.end();
  } catch (error) {
    if (!started) throw error; // nothing sent yet: the route answers with the error
    if (!response.destroyed) reply.log.warn({ err: error }, 'blob body failed midway; the connection is closed');
    response.destroy();
  }
}
