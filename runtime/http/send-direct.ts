/**
 * Sending a blob body that can write itself to the response (`DirectSendable`, the file store's
 * reader): fastify is told the route answers by itself (`hijack`), the status and the headers the
 * route set go out as they are, and the body is written with the reader's two reused buffers
 * instead of piping a stream of fresh ones (see storage/drivers/file-read-stream.ts for why).
 *
 * `onResponse` (the access log) still runs for a hijacked reply, with the same status and
 * `Content-Length`. A body that fails midway cannot turn into an error response any more (the
 * status line is out): the connection is destroyed, so the client sees a short body, never a
 * complete wrong one, and the failure is logged.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { DirectSendable } from '../storage/blob-store.ts';

export async function sendDirect(reply: FastifyReply, body: DirectSendable): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  try {
    await body.sendTo(response);
    response.end();
  } catch (error) {
    if (!response.destroyed) reply.log.warn({ err: error }, 'blob body failed midway; the connection is closed');
    response.destroy();
  }
}
