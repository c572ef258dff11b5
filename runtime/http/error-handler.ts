/**
 * The one place an error becomes a response. A `RegistryError` is rendered as the OCI JSON body
 * with its status and headers; fastify's own client errors (malformed Content-Type, a URL the
 * router cannot decode …) keep their 4xx status under an OCI code; anything else is a 500 `UNKNOWN` whose body carries only the
 * request id, the details going to the log. HEAD responses never carry a body.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isRegistryError, RegistryError } from '../oci/errors.ts';
import { API_VERSION, API_VERSION_HEADER } from './headers.ts';

/** Maps a fastify client error to an OCI code. */
function fromFastifyError(error: FastifyError): RegistryError | undefined {
  // Raised by the router before any route runs (`frameworkErrors`).
  if (error.code === 'FST_ERR_BAD_URL') {
    return new RegistryError('NAME_INVALID', { message: 'invalid percent-encoding in the URL path' });
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new RegistryError('NAME_INVALID', { message: 'invalid repository name: a path segment is too long' });
  }
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  if (status === 413) return new RegistryError('SIZE_INVALID', { status, message: error.message });
  if (status === 401) return new RegistryError('UNAUTHORIZED', { message: error.message });
  return new RegistryError('UNSUPPORTED', { status, message: error.message });
}

/** Renders `error` on `reply` (used as the app's error handler and for 404s). */
export async function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.raw.socket?.destroyed === true && !reply.raw.headersSent) {
    // The client went away (an aborted upload): nobody to answer, and not a server failure.
    request.log.info({ reqId: request.id, err: error }, 'client closed the connection');
    return;
  }
  let rendered = isRegistryError(error) ? error : fromFastifyError(error as FastifyError);
  if (!rendered) {
    request.log.error({ err: error, reqId: request.id }, 'unexpected error');
    rendered = new RegistryError('UNKNOWN', { detail: { requestId: request.id } });
  } else if (rendered.status >= 500) {
    request.log.warn({ err: error, code: rendered.code }, rendered.message);
  }
  if (reply.raw.headersSent) {
    // The body was already streaming: the only honest signal left is a cut connection.
    request.raw.destroy();
    return;
  }
  // Headers a handler set before failing (digest, length, location) describe a success: drop them.
  for (const name of Object.keys(reply.getHeaders())) {
    if (name !== API_VERSION_HEADER.toLowerCase()) reply.removeHeader(name);
  }
  // Set here too: errors raised by the router (`frameworkErrors`) never ran `onRequest`.
  reply.code(rendered.status).header(API_VERSION_HEADER, API_VERSION).headers(rendered.headers);
  // A request body not read to its end (a store that failed midway through an upload) leaves the
  // rest of it on the connection, where the next request would wait behind it forever: close the
  // connection after this answer, so the client's next request opens a fresh one.
  if (!request.raw.complete) reply.header('Connection', 'close');
  if (request.method === 'HEAD') {
    reply.removeHeader('content-length');
    await reply.send();
    return;
  }
  reply.header('Content-Type', 'application/json; charset=utf-8');
  await reply.send(JSON.stringify(rendered.toJSON()));
}

/** The 404 of an unknown endpoint, in the same OCI shape. */
export function notFound(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return sendError(
    new RegistryError('UNSUPPORTED', {
      status: 404,
      message: 'unknown API endpoint',
      detail: { path: request.url.split('?')[0] },
    }),
    request,
    reply,
  );
}
