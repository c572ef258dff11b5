/**
 * Reading an upstream registry's responses: header access, the one mapping of a non-success
 * status to an {@link UpstreamError}, bounded bodies and JSON. Used by {@link UpstreamClient}.
 */
import type { Readable } from 'node:stream';
import { normalizeMediaType } from '../oci/media-types.ts';
import { fromNetworkError, parseRetryAfter, UpstreamError } from './errors.ts';

/** A raw upstream response; the caller must consume or {@link discard} `body`. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable & { dump?: () => Promise<void> };
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

/** First value of a header. */
export function header(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The bare media type of the Content-Type (parameters dropped), '' when absent. */
export function contentTypeOf(headers: UpstreamResponse['headers']): string {
  return normalizeMediaType(header(headers, 'content-type'));
}

/** The Content-Length when it is a valid length, else undefined. */
export function contentLengthOf(headers: UpstreamResponse['headers']): number | undefined {
  const raw = header(headers, 'content-length');
  const length = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/**
 * Maps a non-success status to its `UpstreamError`; `upstreamMessage` is the message of the
 * response's OCI error body, when it was read. A 401/403 that the client can attribute (our
 * credentials, or no access) is built by {@link TokenAuth.refusal} instead.
 */
export function statusError(
  response: Pick<UpstreamResponse, 'status' | 'headers'>,
  what: string,
  upstreamMessage?: string,
): UpstreamError {
  const { status } = response;
  const options = { status, upstreamMessage };
  if (status === 404) {
    return new UpstreamError('UPSTREAM_NOT_FOUND', `${what}: not found (404)`, { ...options, reason: '404' });
  }
  if (status === 401 || status === 403) {
    const reason = `${status}: access refused`;
    return new UpstreamError('UPSTREAM_UNAUTHORIZED', `${what}: ${reason}`, { ...options, reason });
  }
  if (status === 429) {
    const retryAfterSeconds = parseRetryAfter(response.headers['retry-after']);
    return new UpstreamError('UPSTREAM_RATE_LIMITED', `${what}: rate limited (429)`, {
      ...options,
      reason: '429',
      retryAfterSeconds,
      ...(retryAfterSeconds === undefined ? {} : { retryAt: Date.now() + retryAfterSeconds * 1000 }),
    });
  }
  const reason = `unexpected status ${status}`;
  return new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: ${reason}`, { ...options, reason });
}

/**
 * The `message` of an OCI error body (`{"errors":[{"code","message"}]}`), shortened and without
 * control characters, or undefined when the body is not one.
 */
export function ociErrorMessage(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const first = (parsed as { errors?: unknown } | null)?.errors;
  const error = Array.isArray(first) ? (first[0] as { code?: unknown; message?: unknown } | undefined) : undefined;
  const message = typeof error?.message === 'string' ? error.message : undefined;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const text = message ?? code;
  if (text === undefined) return undefined;
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > 500 ? `${clean.slice(0, 500)}…` : clean;
}

/** Drops a body we do not read, keeping the connection reusable when possible. */
export async function discard(body: UpstreamResponse['body']): Promise<void> {
  try {
    if (body.dump !== undefined) await body.dump();
    else body.destroy();
  } catch {
    // the connection is being dropped anyway
  }
}

/** Parses a small JSON body; invalid JSON is `UPSTREAM_BAD_RESPONSE`. */
export function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: invalid JSON from the upstream`, { cause: error });
  }
}

/** Reads a small body into memory, refusing more than `limit` bytes. */
export async function readBounded(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > limit) {
        body.destroy();
        throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw fromNetworkError(error, what);
  }
  return Buffer.concat(chunks);
}
