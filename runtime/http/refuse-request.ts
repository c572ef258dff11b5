/**
 * Requests refused in `onRequest`, before routing and before the request takes a state lease, so
 * that they get the OCI error body from the one error handler rather than Node's or fastify's
 * built-in answers (which have no body, or fastify's own JSON).
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.ts';

/**
 * The refusal for `request`, or undefined to serve it:
 * - while the listener closes (draining): `503 UNAVAILABLE` with `Connection: close`;
 * - an absolute-form target (`GET http://other/v2/`, what a client sends a forward proxy) or
 *   `*`: `400 UNSUPPORTED`, since this server is an origin, not a proxy for other hosts;
 * - HTTP/1.1 without `Host` (RFC 9112 requires one): `400 UNSUPPORTED`.
 */
export function refuseRequest(request: FastifyRequest, closing: boolean): RegistryError | undefined {
  if (closing) {
    return new RegistryError('UNAVAILABLE', {
      message: 'this listener is shutting down',
      headers: { Connection: 'close' },
    });
  }
  const target = request.raw.url ?? '';
  if (!target.startsWith('/')) {
    return new RegistryError('UNSUPPORTED', {
      status: 400,
      message: 'the request target must be a path (origin-form): this registry is not a forward proxy',
      detail: { target: target.slice(0, 200) },
    });
  }
  const { httpVersionMajor, httpVersionMinor } = request.raw;
  if (httpVersionMajor === 1 && httpVersionMinor >= 1 && request.headers.host === undefined) {
    return new RegistryError('UNSUPPORTED', { status: 400, message: 'an HTTP/1.1 request needs a Host header' });
  }
  return undefined;
}
