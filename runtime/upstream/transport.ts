/**
 * The request core of an upstream's client (client.ts holds the registry API over it), over undici:
 *
 * - One {@link UpstreamDispatchers} per upstream: a keep-alive pool per origin, through the
 *   outbound HTTP(S) proxy unless `noProxy` exempts the host.
 * - Authentication by {@link TokenAuth}: Basic or Bearer, as the upstream's challenge asks; tokens
 *   cached per scope, refreshed on a 401.
 * - Redirects followed for blob GETs (Docker Hub answers with a 307 to a CDN); the registry's
 *   Authorization is never sent to another origin.
 * - Retries with exponential backoff for these idempotent GET/HEAD requests, on connection errors
 *   and 502/503/504, before any body byte reached the caller. Timeouts are not retried: a silent
 *   upstream would multiply the wait while a stale copy could already be served.
 * - Failures are {@link UpstreamError}s with stable codes and a `reason` that says what happened:
 *   statuses are mapped in one place ({@link statusError}), a 401/403 is attributed by
 *   {@link TokenAuth.refusal} (our credentials refused, or no access), network errors by
 *   {@link fromNetworkError} with the proxy and timeout of the request.
 * - What `/-/status` and the metrics see of the upstream: its health, requests, failures and quota headers.
 */

import { finished, type Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Dispatcher } from 'undici';
import type { HttpProxyPlan } from '../../compiler/plan.ts';
import { NO_UPSTREAM_OBSERVER, type UpstreamObserver } from '../events.ts';
import { parseRateLimit } from '../metrics/rate-limit.ts';
import { ConcurrencyLimit } from './concurrency-limit.ts';
import { fromNetworkError, type NetworkContext, UpstreamError, withoutUserinfo } from './errors.ts';
import { UpstreamDispatchers } from './http-proxy.ts';
import { discard, header, ociErrorMessage, readBounded, statusError, type UpstreamResponse } from './responses.ts';
import { TokenAuth, type UpstreamCredentials } from './token-auth.ts';

/** The log methods the client uses (a fastify/pino logger fits). */
export type UpstreamLog = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** Upper bound of an error body read for its OCI error message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RETRY_STATUSES = new Set([502, 503, 504]);
const RETRY_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'EAI_AGAIN',
]);

/** Options of an upstream's client ({@link UpstreamTransport} and `UpstreamClient`). */
export interface UpstreamTransportOptions {
  /** Base URL of the registry, no trailing slash (`http://127.0.0.1:5070`). */
  readonly url: string;
  readonly credentials: UpstreamCredentials | null;
  readonly timeoutMs: number;
  readonly httpProxy: HttpProxyPlan | null;
  readonly proxyPassword?: string;
  readonly log: UpstreamLog;
  /** Replaces the pools (tests pass a `MockAgent`). */
  readonly dispatcher?: Dispatcher;
  /** Extra attempts for idempotent requests (default 2). */
  readonly retries?: number;
  /** First backoff delay, doubled each attempt (default 200 ms). */
  readonly retryDelayMs?: number;
  /** Where requests, bytes, errors and quota headers are reported (metrics); default: nowhere. */
  readonly observer?: UpstreamObserver;
  /**
   * Most requests in flight to this upstream at once (`remote.maxConcurrency`); more wait for a
   * slot. A request holds its slot until its response body is read or dropped. Default: no limit.
   */
  readonly maxConcurrency?: number;
}

/**
 * What `/-/status` shows of an upstream: when it last answered well, its last failure, and its
 * quota headers as last seen. Plain data, updated in place by the client (cheap to read).
 */
export interface UpstreamHealth {
  /** ISO time of the last request the upstream answered well (2xx, 3xx, or a 404: a valid answer). */
  lastSuccessAt: string | null;
  /** ISO time and message of the last failure (network error, timeout, 5xx, refused credentials, 429). */
  lastErrorAt: string | null;
  lastError: string | null;
  /** The last `ratelimit-remaining` / `ratelimit-limit` counts seen, or null. */
  rateLimitRemaining: number | null;
  rateLimitLimit: number | null;
}

/** One request to the upstream. */
export interface UpstreamRequest {
  /** DELETE only for regctl's own clients (`regctl rm`); a proxy never writes upstream. */
  readonly method: 'GET' | 'HEAD' | 'DELETE';
  /** Relative to the base URL, e.g. `v2/library/alpine/tags/list`. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Token scope, e.g. `repository:library/alpine:pull`. */
  readonly scope?: string;
  readonly followRedirects?: boolean;
}

/**
 * One write to the registry, for regctl's own clients only (`regctl import` pushes with it); a
 * proxy never writes upstream. Writes are not retried. A `Buffer` body (or none) is sent again
 * after an auth round; a stream body is sent once, so the caller makes a bodiless request first
 * (the upload's POST) and passes on the `authorization` it earned.
 */
export interface UpstreamWrite {
  readonly method: 'POST' | 'PUT' | 'PATCH';
  /** Relative to the base URL (`v2/app/blobs/uploads/`), or absolute (an upload's `Location`). */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Token scope, e.g. `repository:app:pull,push`. */
  readonly scope: string;
  readonly body?: Buffer | Readable;
  /**
   * The Authorization to send first, instead of what is cached for `scope`: what the upload's POST
   * earned (a registry's challenge may name a narrower scope than asked, and the token is cached
   * under that one).
   */
  readonly authorization?: string;
}

/** The `kind` label of an upstream error code: `UPSTREAM_TIMEOUT` → `timeout`. */
function errorKind(code: string): string {
  return code.replace(/^UPSTREAM_/, '').toLowerCase();
}

/** See the module comment. Stateless apart from pools, the token cache and the health record. */
export class UpstreamTransport {
  readonly #options: UpstreamTransportOptions;
  readonly #base: URL;
  readonly #dispatchers: UpstreamDispatchers;
  readonly #auth: TokenAuth;
  readonly #observer: UpstreamObserver;
  readonly #limit: ConcurrencyLimit;
  readonly #health: UpstreamHealth = {
    lastSuccessAt: null,
    lastErrorAt: null,
    lastError: null,
    rateLimitRemaining: null,
    rateLimitLimit: null,
  };

  constructor(options: UpstreamTransportOptions) {
    this.#options = options;
    this.#observer = options.observer ?? NO_UPSTREAM_OBSERVER;
    this.#limit = new ConcurrencyLimit(options.maxConcurrency);
    this.#base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.#dispatchers = new UpstreamDispatchers({
      httpProxy: options.httpProxy,
      proxyPassword: options.proxyPassword,
      timeoutMs: options.timeoutMs,
      dispatcher: options.dispatcher,
    });
    this.#auth = new TokenAuth({
      credentials: options.credentials,
      dispatcherFor: (url) => this.#dispatchers.for(url),
      timeoutMs: options.timeoutMs,
      networkContext: (url) => this.#networkContext(url),
    });
  }

  /** The base URL (with its trailing slash), to resolve the upstream's own links against. */
  get base(): URL {
    return this.#base;
  }

  /** The upstream's health as last seen (a live object: copy it to keep a snapshot). */
  get health(): Readonly<UpstreamHealth> {
    return this.#health;
  }

  /** Requests to this upstream holding a slot, and those waiting for one (`maxConcurrency`). */
  get load(): { readonly active: number; readonly queued: number } {
    return { active: this.#limit.active, queued: this.#limit.queued };
  }

  /** Records a failure for `/-/status` and the metrics. */
  #failed(kind: string, message: string): void {
    this.#observer.error(kind);
    this.#health.lastErrorAt = new Date().toISOString();
    this.#health.lastError = message;
  }

  /** The upstream's base URL, without the trailing slash. */
  get url(): string {
    return this.#base.href.replace(/\/$/, '');
  }

  /**
   * Sends an idempotent request with auth, retries and (when `followRedirects`) redirects; any
   * status is returned, with the Authorization the answering request carried. Network failures
   * throw `UPSTREAM_TIMEOUT` / `UPSTREAM_UNREACHABLE`.
   */
  async request(options: UpstreamRequest): Promise<{ response: UpstreamResponse; authorization: string | undefined }> {
    const retries = this.#options.retries ?? 2;
    const delay = this.#options.retryDelayMs ?? 200;
    for (let attempt = 0; ; attempt++) {
      try {
        const answered = await this.#authorized(options);
        const { response } = answered;
        if (RETRY_STATUSES.has(response.status) && attempt < retries) {
          await discard(response.body);
          this.#options.log.debug({ upstream: this.url, status: response.status, attempt }, 'upstream retry');
          await sleep(delay * 2 ** attempt);
          continue;
        }
        return answered;
      } catch (error) {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (attempt < retries && code !== undefined && RETRY_NETWORK_CODES.has(code)) {
          this.#options.log.debug({ upstream: this.url, code, attempt }, 'upstream retry after a network error');
          await sleep(delay * 2 ** attempt);
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * Sends a write ({@link UpstreamWrite}) with auth, no retries, no redirects; any status is
   * returned, with the Authorization it carried. Network failures throw as for {@link request}.
   */
  async write(options: UpstreamWrite): Promise<{ response: UpstreamResponse; authorization: string | undefined }> {
    const url = new URL(/^https?:\/\//.test(options.path) ? options.path : options.path.replace(/^\//, ''), this.#base);
    const replayable = options.body === undefined || Buffer.isBuffer(options.body);
    let authorization = options.authorization ?? this.#auth.authorizationFor(options.scope);
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = { 'user-agent': 'regctl', ...options.headers };
      if (authorization !== undefined && url.origin === this.#base.origin) headers.authorization = authorization;
      const response = await this.#send(url, options.method, headers, options.body);
      if (response.status !== 401 || round >= 2 || !replayable) return { response, authorization };
      const next = await this.#auth.answer(response.headers['www-authenticate'], options.scope, authorization);
      if (next === undefined) return { response, authorization };
      await discard(response.body);
      authorization = next;
    }
  }

  async #authorized(options: UpstreamRequest) {
    let authorization = this.#auth.authorizationFor(options.scope);
    for (let round = 0; ; round++) {
      const response = await this.#follow(options, authorization);
      if (response.status !== 401 || round >= 2) return { response, authorization };
      const next = await this.#auth.answer(response.headers['www-authenticate'], options.scope, authorization);
      if (next === undefined) return { response, authorization };
      await discard(response.body);
      authorization = next;
    }
  }

  async #follow(options: UpstreamRequest, authorization?: string) {
    let url = new URL(options.path.replace(/^\//, ''), this.#base);
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === this.#base.origin;
      const headers: Record<string, string> = { 'user-agent': 'regctl', ...options.headers };
      if (authorization !== undefined && sameOrigin) headers.authorization = authorization;
      const response = await this.#send(url, options.method, headers);
      if (sameOrigin) this.#noteRateLimit(response);
      const location = header(response.headers, 'location');
      if (!options.followRedirects || !REDIRECT_STATUSES.has(response.status) || location === undefined) {
        return response;
      }
      await discard(response.body);
      if (hop >= MAX_REDIRECTS) {
        throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `too many redirects from ${this.url}`, {
          status: response.status,
        });
      }
      url = new URL(location, url);
    }
  }

  async #send(
    url: URL,
    method: UpstreamRequest['method'] | UpstreamWrite['method'],
    headers: Record<string, string>,
    body?: UpstreamWrite['body'],
  ): Promise<UpstreamResponse> {
    const release = await this.#limit.acquire();
    const started = performance.now();
    try {
      const response = await this.#dispatchers.for(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      });
      // The slot is held until the body is read to its end, dropped, or fails.
      response.body.once('close', release);
      finished(response.body, release);
      const status = response.statusCode;
      this.#observer.request(method, status, (performance.now() - started) / 1000);
      if (status < 400 || status === 404) this.#health.lastSuccessAt = new Date().toISOString();
      else if (status >= 500) this.#failed('server_error', `${method} ${url.pathname}: status ${status}`);
      return { status, headers: response.headers, body: response.body, url };
    } catch (error) {
      release();
      this.#observer.request(method, 0, (performance.now() - started) / 1000);
      const failure = fromNetworkError(error, `${method} ${url.origin}${url.pathname}`, this.#networkContext(url));
      this.#failed(errorKind(failure.code), failure.message);
      throw failure;
    }
  }

  /** How a request to `url` travels, for the reason of a network failure (no credentials in it). */
  #networkContext(url: URL): NetworkContext {
    const proxy = this.#options.httpProxy;
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return {
      timeoutMs: this.#options.timeoutMs,
      target: `${url.hostname}:${port}`,
      socksResolvesHere: this.#dispatchers.resolvesTargetNames(url),
      proxy:
        proxy !== null && this.#dispatchers.isProxied(url)
          ? {
              url: withoutUserinfo(proxy.url),
              credentials: proxy.auth !== null && this.#options.proxyPassword !== undefined,
            }
          : undefined,
    };
  }

  /** Docker Hub reports its pull quota in `ratelimit-remaining: 76;w=21600`: record and log it. */
  #noteRateLimit(response: UpstreamResponse): void {
    const remaining = header(response.headers, 'ratelimit-remaining');
    const limitHeader = header(response.headers, 'ratelimit-limit');
    if (remaining === undefined && limitHeader === undefined) return;
    const left = parseRateLimit(remaining);
    const limit = parseRateLimit(limitHeader);
    this.#observer.rateLimit(limit?.value, left?.value, left?.windowSeconds ?? limit?.windowSeconds);
    if (left !== undefined) this.#health.rateLimitRemaining = left.value;
    if (limit !== undefined) this.#health.rateLimitLimit = limit.value;
    if (remaining === undefined) return;
    const count = Number.parseInt(remaining, 10);
    const fields = {
      upstream: this.url,
      ratelimitRemaining: remaining,
      ratelimitLimit: header(response.headers, 'ratelimit-limit'),
    };
    if (Number.isFinite(count) && count < 10) this.#options.log.warn(fields, 'upstream pull quota nearly used up');
    else this.#options.log.debug(fields, 'upstream pull quota');
  }

  /**
   * A pull-scoped request for `name` that must answer 200; any other status is thrown as its
   * {@link failure} (naming `what`).
   */
  async expectOk(name: string, what: string, options: Omit<UpstreamRequest, 'scope'>): Promise<UpstreamResponse> {
    const { response, authorization } = await this.request({ ...options, scope: `repository:${name}:pull` });
    if (response.status !== 200) throw await this.failure(response, what, authorization);
    return response;
  }

  /**
   * The error of a non-success response, its body consumed: the OCI error message read from it
   * (bounded), a 401/403 attributed by the auth flow (`sent` is the Authorization it carried).
   */
  async failure(response: UpstreamResponse, what: string, sent: string | undefined): Promise<UpstreamError> {
    let upstreamMessage: string | undefined;
    try {
      upstreamMessage = ociErrorMessage(await readBounded(response.body, MAX_ERROR_BODY_BYTES, what));
    } catch {
      await discard(response.body); // too large or cut: the status says enough
    }
    const { status } = response;
    const failure =
      status !== 401 && status !== 403
        ? statusError(response, what, upstreamMessage)
        : (() => {
            const refusal = this.#auth.refusal(status, response.headers['www-authenticate'], sent);
            return new UpstreamError(refusal.code, `${what}: ${refusal.reason}`, {
              status,
              reason: refusal.reason,
              upstreamMessage,
            });
          })();
    if (status === 404) this.#observer.error('not_found');
    else if (status < 500) this.#failed(errorKind(failure.code), failure.message);
    return failure;
  }

  /** Closes the pools. */
  async close(): Promise<void> {
    await this.#dispatchers.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms * (0.75 + Math.random() * 0.5)));
}
