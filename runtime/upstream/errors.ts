/**
 * Failures of the upstream client, with stable codes. The proxy repository matches on `code` and
 * translates them into `RegistryError`s (once); nothing else sees an `UpstreamError`.
 */

/** The stable codes of upstream failures. */
export type UpstreamErrorCode =
  /** No response headers (or no body bytes) within the repository's `timeoutMs`. */
  | 'UPSTREAM_TIMEOUT'
  /** Connection refused, reset, DNS failure, proxy failure: the upstream cannot be reached. */
  | 'UPSTREAM_UNREACHABLE'
  /** 429 from the upstream; `retryAfterSeconds` carries its Retry-After when given. */
  | 'UPSTREAM_RATE_LIMITED'
  /** 404 from the upstream: the manifest, blob or repository does not exist there. */
  | 'UPSTREAM_NOT_FOUND'
  /** 401/403 that survived the credential and token flow: our upstream credentials are refused. */
  | 'UPSTREAM_UNAUTHORIZED'
  /** Anything else unexpected: 5xx after retries, a body that does not match its digest, bad JSON. */
  | 'UPSTREAM_BAD_RESPONSE';

/** An upstream failure. `status` is the upstream's HTTP status when there was one. */
export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: UpstreamErrorCode,
    message: string,
    options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
    this.code = code;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** True for an `UpstreamError` (of `code`, when given). */
export function isUpstreamError(value: unknown, code?: UpstreamErrorCode): value is UpstreamError {
  return value instanceof UpstreamError && (code === undefined || value.code === code);
}

/**
 * True when the failure says "the upstream cannot answer now" rather than "it answered no": the
 * cases where a proxy serves its cached copy (stale) instead of failing.
 */
export function isUpstreamUnavailable(error: unknown): boolean {
  return (
    isUpstreamError(error) &&
    (error.code === 'UPSTREAM_TIMEOUT' ||
      error.code === 'UPSTREAM_UNREACHABLE' ||
      error.code === 'UPSTREAM_RATE_LIMITED' ||
      error.code === 'UPSTREAM_BAD_RESPONSE')
  );
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
  'ABORT_ERR',
]);

/** Maps a network-level error thrown by undici or node:net to an `UpstreamError`. */
export function fromNetworkError(error: unknown, what: string): UpstreamError {
  if (isUpstreamError(error)) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  const message = (error as Error | null)?.message ?? String(error);
  if (TIMEOUT_CODES.has(code) || (error as Error | null)?.name === 'TimeoutError') {
    return new UpstreamError('UPSTREAM_TIMEOUT', `${what}: timed out (${message})`, { cause: error });
  }
  return new UpstreamError('UPSTREAM_UNREACHABLE', `${what}: ${message}${code ? ` (${code})` : ''}`, {
    cause: error,
  });
}

/** Parses a Retry-After header (seconds or an HTTP date) into whole seconds, or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
