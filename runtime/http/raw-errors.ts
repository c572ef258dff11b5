/**
 * Answers written straight on a socket, for what never becomes a fastify request: a request that
 * Node's HTTP parser refuses (an unknown method, a bad `Content-Length`, broken chunked framing, a
 * head over the size limit or past the header deadline) and `CONNECT`. They carry the same OCI
 * error body as the app's error handler (error-handler.ts), with the API version header and
 * `Connection: close`: after a parse error the connection cannot carry another request.
 */
import { STATUS_CODES } from 'node:http';
import { RegistryError } from '../oci/errors.ts';
import { API_VERSION, API_VERSION_HEADER } from './headers.ts';
import type { ConnectionLimits } from './limits.ts';

/** The methods the v2 API answers, for the `Allow` of a 405 to a method the parser does not know. */
export const API_METHODS = 'GET, HEAD, PUT, POST, PATCH, DELETE';

/** Parser codes that say the body's framing (its length) is wrong. */
const FRAMING_CODES = new Set([
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CHUNK_SIZE',
  'HPE_INVALID_TRANSFER_ENCODING',
]);

/** What Node reports on `clientError`: a parser error carries llhttp's code and reason. */
export interface ClientError extends Error {
  readonly code?: string;
  readonly reason?: string;
}

/** The `RegistryError` a client error is answered with. */
export function classifyClientError(error: ClientError, limits: ConnectionLimits): RegistryError {
  const code = error.code ?? 'UNKNOWN';
  const reason = error.reason ?? error.message;
  const detail = { parserError: code };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new RegistryError('REQUEST_TIMEOUT', {
      message: `the request head did not arrive within ${limits.headersTimeoutMs / 1000} s`,
    });
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new RegistryError('UNSUPPORTED', {
      status: 431,
      message: `the request head is larger than ${limits.maxHeaderBytes} bytes`,
      detail: { limit: limits.maxHeaderBytes },
    });
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return new RegistryError('SIZE_INVALID', { status: 413, message: 'chunk extensions too large', detail });
  }
  if (code === 'HPE_INVALID_METHOD') {
    return new RegistryError('UNSUPPORTED', {
      message: 'unknown HTTP method',
      detail,
      headers: { Allow: API_METHODS },
    });
  }
  if (FRAMING_CODES.has(code)) {
    return new RegistryError('SIZE_INVALID', { message: `invalid body framing: ${reason}`, detail });
  }
  if (code === 'HPE_PAUSED_H2_UPGRADE') {
    return new RegistryError('UNSUPPORTED', { status: 400, message: 'HTTP/2 is not served: use HTTP/1.1', detail });
  }
  return new RegistryError('UNSUPPORTED', { status: 400, message: `malformed HTTP request: ${reason}`, detail });
}

/** The answer to `CONNECT host:port`: a registry is not a forward proxy. */
export function connectRefused(): RegistryError {
  return new RegistryError('UNSUPPORTED', {
    message: 'CONNECT is not supported: this is a registry, not a forward proxy',
    headers: { Allow: API_METHODS },
  });
}

/** The headers of an answer to `error` whose OCI JSON body is `body`. */
export function formatErrorHeaders(error: RegistryError, body: string): Record<string, string> {
  return {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    [API_VERSION_HEADER]: API_VERSION,
    ...error.headers,
  };
}

/** The whole HTTP/1.1 response for `error`: status line, headers, OCI JSON body. */
export function formatRawResponse(error: RegistryError): string {
  const body = JSON.stringify(error.toJSON());
  const headers = { ...formatErrorHeaders(error, body), Connection: 'close' };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${lines.join('')}\r\n${body}`;
}
