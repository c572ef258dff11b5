/**
 * The client of one upstream registry (the `remote` of a proxy repository), over undici.
 *
 * - One {@link UpstreamDispatchers} per client: a keep-alive pool per origin, through the outbound
 *   HTTP(S) proxy unless `noProxy` exempts the host.
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
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Dispatcher } from 'undici';
import type { HttpProxyPlan } from '../../compiler/plan.ts';
import { NO_UPSTREAM_OBSERVER, type UpstreamObserver } from '../events.ts';
import { parseRateLimit } from '../metrics/rate-limit.ts';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.ts';
import { OCI_INDEX, SUPPORTED_MANIFEST_MEDIA_TYPES } from '../oci/media-types.ts';
import { fromNetworkError, type NetworkContext, UpstreamError, withoutUserinfo } from './errors.ts';
import { UpstreamDispatchers } from './http-proxy.ts';
import {
  contentLengthOf,
  contentTypeOf,
  discard,
  header,
  ociErrorMessage,
  parseJson,
  readBounded,
  statusError,
  type UpstreamResponse,
} from './responses.ts';
import { TokenAuth, type UpstreamCredentials } from './token-auth.ts';

/** The log methods the client uses (a fastify/pino logger fits). */
export type UpstreamLog = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** Every manifest format the registry can store: the upstream may pick any. */
const MANIFEST_ACCEPT = SUPPORTED_MANIFEST_MEDIA_TYPES.join(', ');
/** Upper bound of an error body read for its OCI error message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Upper bound of a tag list page read into memory. */
const MAX_TAG_LIST_BYTES = 16 * 1024 * 1024;
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

/** Options of {@link UpstreamClient}. */
export interface UpstreamClientOptions {
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

/** The `kind` label of an upstream error code: `UPSTREAM_TIMEOUT` → `timeout`. */
function errorKind(code: string): string {
  return code.replace(/^UPSTREAM_/, '').toLowerCase();
}

/** A manifest as the upstream served it. */
export interface UpstreamManifest {
  readonly digest: string | undefined;
  readonly mediaType: string;
  readonly body: Buffer;
}

/** The client of one upstream registry. Stateless apart from pools and the token cache. */
export class UpstreamClient {
  readonly #options: UpstreamClientOptions;
  readonly #base: URL;
  readonly #dispatchers: UpstreamDispatchers;
  readonly #auth: TokenAuth;
  readonly #observer: UpstreamObserver;
  readonly #health: UpstreamHealth = {
    lastSuccessAt: null,
    lastErrorAt: null,
    lastError: null,
    rateLimitRemaining: null,
    rateLimitLimit: null,
  };

  constructor(options: UpstreamClientOptions) {
    this.#options = options;
    this.#observer = options.observer ?? NO_UPSTREAM_OBSERVER;
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

  /** The upstream's health as last seen (a live object: copy it to keep a snapshot). */
  get health(): Readonly<UpstreamHealth> {
    return this.#health;
  }

  /** Records a failure for `/-/status` and the metrics. */
  #failed(kind: string, message: string): void {
    this.#observer.error(kind);
    this.#health.lastErrorAt = new Date().toISOString();
    this.#health.lastError = message;
  }

  /** The upstream's base URL. */
  get url(): string {
    return this.#base.href.replace(/\/$/, '');
  }

  /**
   * Sends an idempotent request to `path` (relative to the base, e.g. `v2/library/alpine/tags/list`)
   * with auth, retries and (when `followRedirects`) redirects. Any status is returned; network
   * failures throw `UPSTREAM_TIMEOUT` / `UPSTREAM_UNREACHABLE`.
   */
  async request(options: {
    /** DELETE only for regctl's own clients (`regctl rm`); a proxy never writes upstream. */
    method: 'GET' | 'HEAD' | 'DELETE';
    path: string;
    headers?: Record<string, string>;
    /** Token scope, e.g. `repository:library/alpine:pull`. */
    scope?: string;
    followRedirects?: boolean;
  }): Promise<UpstreamResponse> {
    return (await this.#request(options)).response;
  }

  /** {@link request}, also returning the Authorization the answering request carried. */
  async #request(
    options: Parameters<UpstreamClient['request']>[0],
  ): Promise<{ response: UpstreamResponse; authorization: string | undefined }> {
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

  async #authorized(options: Parameters<UpstreamClient['request']>[0]) {
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

  async #follow(options: Parameters<UpstreamClient['request']>[0], authorization?: string) {
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

  async #send(url: URL, method: 'GET' | 'HEAD' | 'DELETE', headers: Record<string, string>): Promise<UpstreamResponse> {
    const started = performance.now();
    try {
      const response = await this.#dispatchers.for(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      });
      const status = response.statusCode;
      this.#observer.request(method, status, (performance.now() - started) / 1000);
      if (status < 400 || status === 404) this.#health.lastSuccessAt = new Date().toISOString();
      else if (status >= 500) this.#failed('server_error', `${method} ${url.pathname}: status ${status}`);
      return { status, headers: response.headers, body: response.body, url };
    } catch (error) {
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
  async #expectOk(
    name: string,
    what: string,
    options: Omit<Parameters<UpstreamClient['request']>[0], 'scope'>,
  ): Promise<UpstreamResponse> {
    const { response, authorization } = await this.#request({ ...options, scope: `repository:${name}:pull` });
    if (response.status !== 200) throw await this.#failure(response, what, authorization);
    return response;
  }

  /**
   * The error of a non-success response, its body consumed: the OCI error message read from it
   * (bounded), a 401/403 attributed by the auth flow (`sent` is the Authorization it carried).
   */
  async #failure(response: UpstreamResponse, what: string, sent: string | undefined): Promise<UpstreamError> {
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

  /** HEAD of a manifest: its digest, media type and size, without pull quota on Docker Hub. */
  async headManifest(name: string, reference: string) {
    const response = await this.#expectOk(name, `manifest ${name}:${reference}`, {
      method: 'HEAD',
      path: `v2/${name}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    await discard(response.body);
    return {
      digest: header(response.headers, 'docker-content-digest'),
      mediaType: contentTypeOf(response.headers),
      size: contentLengthOf(response.headers),
    };
  }

  /** GET of a manifest, read into memory (bounded to the registry's manifest limit). */
  async getManifest(name: string, reference: string): Promise<UpstreamManifest> {
    const what = `manifest ${name}:${reference}`;
    const response = await this.#expectOk(name, what, {
      method: 'GET',
      path: `v2/${name}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    const body = await readBounded(response.body, MAX_MANIFEST_BYTES, what);
    this.#observer.bytes('manifest', body.length);
    return {
      digest: header(response.headers, 'docker-content-digest'),
      mediaType: contentTypeOf(response.headers),
      body,
    };
  }

  /** HEAD of a blob: its size. */
  async headBlob(name: string, digest: string): Promise<{ size: number }> {
    const what = `blob ${name}@${digest}`;
    const response = await this.#expectOk(name, what, {
      method: 'HEAD',
      path: `v2/${name}/blobs/${digest}`,
      followRedirects: true,
    });
    await discard(response.body);
    const size = contentLengthOf(response.headers);
    if (size === undefined) throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: HEAD without a Content-Length`);
    return { size };
  }

  /**
   * GET of a blob, redirects followed. `size` is the Content-Length when the upstream sent one.
   * The body is the live socket stream: the caller verifies the digest.
   */
  async getBlob(name: string, digest: string): Promise<{ size: number | undefined; body: Readable }> {
    // The caller reads the body (stream-through.ts), and reports its bytes with {@link blobBytes}.
    const response = await this.#expectOk(name, `blob ${name}@${digest}`, {
      method: 'GET',
      path: `v2/${name}/blobs/${digest}`,
      followRedirects: true,
    });
    return { size: contentLengthOf(response.headers), body: response.body };
  }

  /** Every tag of `name`, following `Link` pagination (bounded to 100 pages). */
  async listTags(name: string): Promise<string[]> {
    const what = `tags of ${name}`;
    const tags: string[] = [];
    let path = `v2/${name}/tags/list?n=1000`;
    for (let page = 0; page < 100; page++) {
      const response = await this.#expectOk(name, what, { method: 'GET', path });
      const body = parseJson(await readBounded(response.body, MAX_TAG_LIST_BYTES, what), what);
      const list = (body as { tags?: unknown } | null)?.tags;
      if (Array.isArray(list)) for (const tag of list) if (typeof tag === 'string') tags.push(tag);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(response.headers, 'link') ?? '');
      if (next === null) break;
      const nextUrl = new URL(next[1]!, this.#base);
      path = `${nextUrl.pathname}${nextUrl.search}`;
    }
    return [...new Set(tags)].sort();
  }

  /** The upstream's referrers index of `digest` (OCI 1.1), or [] when it has no referrers API. */
  async listReferrers(name: string, digest: string): Promise<unknown[]> {
    const what = `referrers of ${name}@${digest}`;
    const { response, authorization } = await this.#request({
      method: 'GET',
      path: `v2/${name}/referrers/${digest}`,
      headers: { accept: OCI_INDEX },
      scope: `repository:${name}:pull`,
    });
    if (response.status !== 200) {
      if (response.status === 404 || response.status === 405) {
        await discard(response.body);
        return [];
      }
      throw await this.#failure(response, what, authorization);
    }
    const body = parseJson(await readBounded(response.body, MAX_MANIFEST_BYTES, what), what);
    const manifests = (body as { manifests?: unknown } | null)?.manifests;
    return Array.isArray(manifests) ? manifests : [];
  }

  /** Reports `count` blob body bytes received from this upstream (the reader of `getBlob`'s body calls it). */
  blobBytes(count: number): void {
    this.#observer.bytes('blob', count);
  }

  /** Closes the pools. */
  async close(): Promise<void> {
    await this.#dispatchers.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms * (0.75 + Math.random() * 0.5)));
}
