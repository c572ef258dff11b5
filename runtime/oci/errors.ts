/**
 * The one error type of the HTTP boundary. Everything a client can see as a failure is a
 * `RegistryError` with a code from {@link REGISTRY_ERROR_CODES}; the table holds the HTTP status and
 * default message, and one fastify error handler renders the OCI JSON body:
 *   { "errors": [ { "code": "BLOB_UNKNOWN", "message": "...", "detail": {...} } ] }
 * Handlers never choose a status code by hand.
 */

export const REGISTRY_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  /** Not in the OCI table, used by distribution for a chunk out of order (416). */
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  /** Not in the OCI table, used by distribution for a bad `?n=` on a listing (400). */
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  /** Not in the OCI table: the request head did not arrive within the header timeout (408). */
  REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  /**
   * Not in the OCI table: the blob store has no space left (507 Insufficient Storage). Its own code
   * rather than `UNAVAILABLE` with another status: it is no passing state that a retry after
   * `Retry-After` cures, but one an operator has to act on (free space, grow the volume), and
   * clients and alerts match it by code.
   */
  STORE_FULL: { status: 507, message: 'the blob store is full' },
  /** Not in the OCI table: the repository or an upstream cannot serve now (503). */
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  /** Not in the OCI table: an unexpected failure (500); details go to the log, never to the client. */
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type RegistryErrorCode = keyof typeof REGISTRY_ERROR_CODES;

export interface RegistryErrorOptions {
  /** Overrides the table's message: say what is wrong and how to fix it. */
  message?: string;
  /** JSON-serialisable detail for the client. */
  detail?: unknown;
  /** Overrides the table's status (e.g. 413 for a too large manifest). */
  status?: number;
  /** Extra response headers (WWW-Authenticate, Retry-After …). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: RegistryErrorCode, options: RegistryErrorOptions = {}) {
    const entry = REGISTRY_ERROR_CODES[code];
    super(options.message ?? entry.message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? entry.status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The OCI error body. */
  toJSON(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const error: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) error.detail = this.detail;
    return { errors: [error] };
  }
}

export function isRegistryError(value: unknown): value is RegistryError {
  return value instanceof RegistryError;
}
