/**
 * What the HTTP layer tells the metrics, the audit log and the webhooks: auth refusals classified
 * by reason (with the user name a Basic header sent, never its password), and artifact events
 * built from a request. Only the process's {@link EventSink} sees them.
 */
import type { FastifyRequest } from 'fastify';
import { credentialsAfter } from '../auth/authorization.ts';
import type { AuthFailure, AuthFailureReason, EventRequest, EventSink } from '../events.ts';
import { isRegistryError } from '../oci/errors.ts';

/** A sink that drops everything (apps built without observability: unit tests). */
export const NO_EVENT_SINK: EventSink = Object.freeze({
  artifact() {},
  authFailure() {},
  wants: () => false,
});

/** The reason of an auth refusal, or undefined when `error` is not one. */
export function authFailureReason(error: unknown, request: FastifyRequest): AuthFailureReason | undefined {
  if (!isRegistryError(error)) return undefined;
  if (error.code === 'DENIED') return 'denied';
  if (error.code === 'TOOMANYREQUESTS') return 'throttled';
  if (error.code !== 'UNAUTHORIZED') return undefined;
  if (request.headers.authorization === undefined) return 'missing_credentials';
  const challenge = error.headers['WWW-Authenticate'] ?? '';
  if (challenge.includes('invalid_token')) return 'invalid_token';
  if (challenge.includes('insufficient_scope')) return 'insufficient_scope';
  return 'invalid_credentials';
}

/** The user name of a Basic `Authorization` header (the part before the colon), or null. */
export function basicUserName(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  const encoded = header === undefined ? undefined : credentialsAfter(header, 'basic');
  if (encoded === undefined) return null;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  // Bounded and printable: it goes into a log line.
  return decoded.slice(0, Math.min(colon, 256)).replace(/[^\x20-\x7e]/g, '?');
}

/** Reports `error` to `sink` when it is an auth refusal; returns it for rethrowing. */
export function reportAuthFailure(
  sink: EventSink,
  error: unknown,
  request: FastifyRequest,
  scope: Pick<AuthFailure, 'repository' | 'name' | 'actions'> = {},
): unknown {
  const reason = authFailureReason(error, request);
  if (reason !== undefined) {
    sink.authFailure({
      reason,
      user: basicUserName(request),
      addr: request.ip,
      requestId: request.id,
      ...scope,
    });
  }
  return error;
}

/** The `request` of an artifact event. */
export function eventRequest(request: FastifyRequest): EventRequest {
  const agent = request.headers['user-agent'];
  return {
    id: request.id,
    addr: request.ip,
    host: request.headers.host ?? request.hostname,
    method: request.method,
    userAgent: typeof agent === 'string' ? agent.slice(0, 512) : '',
  };
}

/** `http(s)://host` of the request, for event URLs. */
export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.hostname}`;
}
