/**
 * Failures of the upstream client, with stable codes. The proxy repository matches on `code` and
 * translates them into `RegistryError`s (once); nothing else sees an `UpstreamError`.
 *
 * Every error also carries a `reason`: a few words saying what happened (`connection refused`,
 * `after 30s waiting for a response`, `401 from the token service http://auth.test/token`) that are
 * safe to show a client and to log: built from codes, statuses and URLs without userinfo, never
 * from a header, a credential or a token.
 */

/** The stable codes of upstream failures (listed in docs/operations.md, "When a proxy fails"). */
export type UpstreamErrorCode =
  /** No connection, response headers or body bytes within the repository's `timeoutMs`. */
  | 'UPSTREAM_TIMEOUT'
  /** Connection refused or reset, DNS or TLS failure, a proxy that cannot reach the host: no answer. */
  | 'UPSTREAM_UNREACHABLE'
  /**
   * The outbound proxy refused: an HTTP proxy the CONNECT tunnel (403 …) or our proxy credentials
   * (407); a SOCKS5 proxy our credentials, or the connection by its rules.
   */
  | 'UPSTREAM_PROXY_REFUSED'
  /** 429 from the upstream; `retryAfterSeconds` carries its Retry-After when given. */
  | 'UPSTREAM_RATE_LIMITED'
  /** 404 from the upstream: the manifest, blob or repository does not exist there. */
  | 'UPSTREAM_NOT_FOUND'
  /**
   * 401/403 to a request that was anonymous or carried a token: no access to *this* image. Docker
   * Hub answers so for images that do not exist, so it is not proof that anything is misconfigured.
   */
  | 'UPSTREAM_UNAUTHORIZED'
  /** The upstream or its token service refused the credentials we sent (401/403). */
  | 'UPSTREAM_CREDENTIALS_REFUSED'
  /** Anything else unexpected: 5xx after retries, a body that does not match its digest, bad JSON. */
  | 'UPSTREAM_BAD_RESPONSE';

/** Options of {@link UpstreamError}. */
export interface UpstreamErrorOptions {
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  /** When the upstream may be asked again (ms since the epoch), with `retryAfterSeconds`. */
  readonly retryAt?: number;
  /** What happened, in a few words safe to show and log (default: the message). */
  readonly reason?: string;
  /** The `message` of the upstream's OCI error body, when it sent one. */
  readonly upstreamMessage?: string;
  /**
   * Which endpoint failed, as a message may show it (no credentials), when a repository has
   * more than one (mirrors): `the mirror http://…`. Undefined: the repository's remote URL.
   */
  readonly endpoint?: string;
  readonly cause?: unknown;
}

/** An upstream failure. `status` is the upstream's HTTP status when there was one. */
export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly retryAt: number | undefined;
  /** What happened, in a few words with no secrets (see the module comment). */
  readonly reason: string;
  readonly upstreamMessage: string | undefined;
  readonly endpoint: string | undefined;

  constructor(code: UpstreamErrorCode, message: string, options: UpstreamErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
    this.code = code;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryAt = options.retryAt;
    this.reason = options.reason ?? message;
    this.upstreamMessage = options.upstreamMessage;
    this.endpoint = options.endpoint;
  }
}

/** True for an `UpstreamError` (of `code`, when given). */
export function isUpstreamError(value: unknown, code?: UpstreamErrorCode): value is UpstreamError {
  return value instanceof UpstreamError && (code === undefined || value.code === code);
}

const UNAVAILABLE_CODES = new Set<UpstreamErrorCode>([
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_UNREACHABLE',
  'UPSTREAM_PROXY_REFUSED',
  'UPSTREAM_RATE_LIMITED',
  'UPSTREAM_CREDENTIALS_REFUSED',
  'UPSTREAM_BAD_RESPONSE',
]);

/**
 * True when the failure says "the upstream cannot answer us now" rather than "it answered no for
 * this image": the cases where a proxy serves its cached copy (stale) instead of failing. Refused
 * credentials are among them: they say nothing about the image, and the cache still holds it.
 */
export function isUpstreamUnavailable(error: unknown): boolean {
  return isUpstreamError(error) && UNAVAILABLE_CODES.has(error.code);
}

/** `url` without its userinfo (`http://user:pass@host/` → `http://host`), for messages and logs. */
export function withoutUserinfo(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.href.replace(/\/$/, '');
  } catch {
    return '(an invalid URL)';
  }
}

/** A timeout as the config writes it: `30s`, `1.5s`, `250ms`. */
export function formatTimeout(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** What {@link fromNetworkError} knows about the request that failed, to say why it failed. */
export interface NetworkContext {
  /** The request's timeout. */
  readonly timeoutMs?: number;
  /** The outbound proxy the request went through (URL without userinfo), and whether it got credentials. */
  readonly proxy?: { readonly url: string; readonly credentials: boolean };
  /** `host:port` the request was for: what a CONNECT tunnel was asked to reach. */
  readonly target?: string;
  /** Who was asked when it is not the upstream registry itself (`the token service http://…`). */
  readonly peer?: string;
  /** The proxy is `socks5://`: regctl resolves the target's name before asking it. */
  readonly socksResolvesHere?: boolean;
}

const TIMEOUT_PHASES: Readonly<Record<string, 'connect' | 'response' | 'body'>> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  ETIMEDOUT: 'connect',
  UND_ERR_HEADERS_TIMEOUT: 'response',
  UND_ERR_BODY_TIMEOUT: 'body',
  ABORT_ERR: 'response',
};

/** Failures of opening a connection: through a proxy, the connection that failed is the proxy's. */
const CONNECT_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (EAI_AGAIN)',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
};

const CONNECTION_REASONS: Readonly<Record<string, string>> = {
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_CLOSED: 'connection closed unexpectedly',
};

/**
 * undici's ProxyAgent reports a CONNECT answered with anything but 200 only in its message
 * (`Proxy response (403) !== 200 when HTTP Tunneling`, a RequestAbortedError), and a 407 to an
 * absolute-form request as `Proxy Authentication Required (407)`: the status is read here, once.
 */
function proxyStatusOf(message: string): number | undefined {
  const tunnel = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$/.exec(message);
  if (tunnel !== null) return Number(tunnel[1]);
  return /^Proxy Authentication Required \(407\)$/.test(message) ? 407 : undefined;
}

/** RFC 1928's reply codes, as a SOCKS5 proxy answers a `CONNECT` it did not open. */
const SOCKS_REPLIES: Readonly<Record<string, string>> = {
  '1': 'general failure',
  '2': 'not allowed by its rules',
  '3': 'network unreachable',
  '4': 'host unreachable',
  '5': 'connection refused',
  '6': 'TTL expired',
  '7': 'command not supported',
  '8': 'address type not supported',
};

/** undici's Socks5ProxyAgent failures (codes `UND_ERR_SOCKS5_*`, or its handshake timeouts). */
function fromSocksError(
  errorCode: string,
  message: string,
  context: NetworkContext,
  make: (code: UpstreamErrorCode, reason: string) => UpstreamError,
): UpstreamError | undefined {
  const proxy = `the SOCKS5 proxy ${context.proxy?.url ?? ''}`.trimEnd();
  const target = context.target ?? 'the upstream';
  const stalled = /^SOCKS5 (authentication|connection) timeout$/.exec(message)?.[1];
  if (stalled !== undefined) return make('UPSTREAM_TIMEOUT', `${proxy} did not complete the ${stalled} within 5s`);
  if (!errorCode.startsWith('UND_ERR_SOCKS5')) return undefined;
  if (errorCode === 'UND_ERR_SOCKS5_AUTH_FAILED') {
    return make('UPSTREAM_PROXY_REFUSED', `${proxy} refused our proxy credentials`);
  }
  if (errorCode === 'UND_ERR_SOCKS5_AUTH_REJECTED') {
    return context.proxy?.credentials
      ? make('UPSTREAM_PROXY_REFUSED', `${proxy} accepts none of our authentication methods`)
      : make('UPSTREAM_PROXY_REFUSED', `${proxy} requires credentials and none are configured`);
  }
  const reply = /^UND_ERR_SOCKS5_REPLY_(\d+)$/.exec(errorCode)?.[1];
  if (reply !== undefined) {
    const why = SOCKS_REPLIES[reply] ?? `reply ${reply}`;
    const code = reply === '2' ? 'UPSTREAM_PROXY_REFUSED' : 'UPSTREAM_UNREACHABLE';
    return make(code, `${proxy} could not connect to ${target}: ${why}`);
  }
  return make('UPSTREAM_UNREACHABLE', `${proxy}: ${message} (${errorCode})`);
}

/** Maps a network-level error thrown by undici or node:net to an `UpstreamError`. */
export function fromNetworkError(error: unknown, what: string, context: NetworkContext = {}): UpstreamError {
  if (isUpstreamError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const errorCode = typeof code === 'string' ? code : '';
  const message = (error as Error | null)?.message ?? String(error);
  const make = (upstreamCode: UpstreamErrorCode, reason: string) =>
    new UpstreamError(upstreamCode, `${what}: ${reason}`, { reason, cause: error });

  if (context.proxy !== undefined) {
    const socks = fromSocksError(errorCode, message, context, make);
    if (socks !== undefined) return socks;
  }
  const proxyStatus = context.proxy === undefined ? undefined : proxyStatusOf(message);
  if (context.proxy !== undefined && proxyStatus !== undefined) {
    const proxy = `the outbound proxy ${context.proxy.url}`;
    const target = context.target ?? 'the upstream';
    if (proxyStatus === 407) {
      return context.proxy.credentials
        ? make('UPSTREAM_PROXY_REFUSED', `${proxy} refused our proxy credentials (407)`)
        : make('UPSTREAM_PROXY_REFUSED', `${proxy} requires credentials (407) and none are configured`);
    }
    if (proxyStatus >= 500) {
      return make('UPSTREAM_UNREACHABLE', `${proxy} could not open a tunnel to ${target} (${proxyStatus})`);
    }
    return make('UPSTREAM_PROXY_REFUSED', `${proxy} refused the CONNECT tunnel to ${target} (${proxyStatus})`);
  }

  const phase =
    TIMEOUT_PHASES[errorCode] ?? ((error as Error | null)?.name === 'TimeoutError' ? 'response' : undefined);
  if (phase !== undefined) {
    const from = context.peer === undefined ? '' : ` from ${context.peer}`;
    const waiting =
      phase === 'connect'
        ? context.proxy !== undefined
          ? `to connect to the outbound proxy ${context.proxy.url}`
          : `to connect${context.peer === undefined ? '' : ` to ${context.peer}`}`
        : phase === 'response'
          ? `for a response${from}`
          : `for the body${from}`;
    const after = context.timeoutMs === undefined ? '' : `after ${formatTimeout(context.timeoutMs)} `;
    return make('UPSTREAM_TIMEOUT', `${after}waiting ${waiting}`);
  }

  const connect = CONNECT_REASONS[errorCode];
  const unresolved = (error as { hostname?: unknown } | null)?.hostname;
  if (connect !== undefined && context.socksResolvesHere && unresolved === context.target?.replace(/:\d+$/, '')) {
    // socks5://: the name was looked up here before asking the proxy, and that failed.
    return make(
      'UPSTREAM_UNREACHABLE',
      `host name ${unresolved} not found here (socks5:// resolves names in regctl; socks5h:// lets the proxy resolve them)`,
    );
  }
  if (connect !== undefined) {
    const who = context.proxy !== undefined ? `the outbound proxy ${context.proxy.url}: ` : peerPrefix(context);
    return make('UPSTREAM_UNREACHABLE', `${who}${connect}`);
  }
  const connection = CONNECTION_REASONS[errorCode];
  if (connection !== undefined) return make('UPSTREAM_UNREACHABLE', `${peerPrefix(context)}${connection}`);
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_)/.test(errorCode)) {
    return make('UPSTREAM_UNREACHABLE', `${peerPrefix(context)}TLS failed: ${message} (${errorCode})`);
  }
  const detail = `${message || 'network error'}${errorCode ? ` (${errorCode})` : ''}`;
  return make('UPSTREAM_UNREACHABLE', `${peerPrefix(context)}${detail}`);
}

function peerPrefix(context: NetworkContext): string {
  return context.peer === undefined ? '' : `${context.peer}: `;
}

/** Parses a Retry-After header (seconds or an HTTP date) into whole seconds, or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  // An HTTP date names its day and month (`Wed, 21 Oct 2026 07:28:00 GMT`); Date.parse alone
  // would also take `-5` or `2026` as a time.
  const date = /[a-z]{3}/i.test(raw) ? Date.parse(raw) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
