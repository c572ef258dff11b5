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
 * - Failures are {@link UpstreamError}s with stable codes; statuses are mapped in one place
 *   ({@link statusError}).
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Dispatcher } from 'undici';
import type { HttpProxyPlan } from '../../compiler/plan.ts';
import { fromNetworkError, parseRetryAfter, UpstreamError } from './errors.ts';
import { UpstreamDispatchers } from './http-proxy.ts';
import { TokenAuth, type UpstreamCredentials } from './token-auth.ts';

/** The log methods the client uses (a fastify/pino logger fits). */
export type UpstreamLog = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** Every manifest format the registry can store: the upstream may pick any. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Upper bound of a manifest body read into memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
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
}

/** A raw upstream response; the caller must consume or destroy `body`. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable & { dump?: () => Promise<void> };
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

/** A manifest as the upstream served it. */
export interface UpstreamManifest {
  readonly digest: string | undefined;
  readonly mediaType: string;
  readonly body: Buffer;
}

/** First value of a header. */
export function header(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Maps a non-success status to its `UpstreamError`. */
export function statusError(response: Pick<UpstreamResponse, 'status' | 'headers'>, what: string): UpstreamError {
  const { status } = response;
  if (status === 404) return new UpstreamError('UPSTREAM_NOT_FOUND', `${what}: not found upstream`, { status });
  if (status === 401 || status === 403) {
    return new UpstreamError('UPSTREAM_UNAUTHORIZED', `${what}: the upstream refused our credentials (${status})`, {
      status,
    });
  }
  if (status === 429) {
    return new UpstreamError('UPSTREAM_RATE_LIMITED', `${what}: rate limited by the upstream`, {
      status,
      retryAfterSeconds: parseRetryAfter(response.headers['retry-after']),
    });
  }
  return new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: unexpected status ${status}`, { status });
}

async function discard(body: UpstreamResponse['body']): Promise<void> {
  try {
    if (body.dump !== undefined) await body.dump();
    else body.destroy();
  } catch {
    // the connection is being dropped anyway
  }
}

/** The client of one upstream registry. Stateless apart from pools and the token cache. */
export class UpstreamClient {
  readonly #options: UpstreamClientOptions;
  readonly #base: URL;
  readonly #dispatchers: UpstreamDispatchers;
  readonly #auth: TokenAuth;

  constructor(options: UpstreamClientOptions) {
    this.#options = options;
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
    });
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
    method: 'GET' | 'HEAD';
    path: string;
    headers?: Record<string, string>;
    /** Token scope, e.g. `repository:library/alpine:pull`. */
    scope?: string;
    followRedirects?: boolean;
  }): Promise<UpstreamResponse> {
    const retries = this.#options.retries ?? 2;
    const delay = this.#options.retryDelayMs ?? 200;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.#authorized(options);
        if (RETRY_STATUSES.has(response.status) && attempt < retries) {
          await discard(response.body);
          this.#options.log.debug({ upstream: this.url, status: response.status, attempt }, 'upstream retry');
          await sleep(delay * 2 ** attempt);
          continue;
        }
        return response;
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

  async #authorized(options: Parameters<UpstreamClient['request']>[0]): Promise<UpstreamResponse> {
    let authorization = this.#auth.authorizationFor(options.scope);
    for (let round = 0; ; round++) {
      const response = await this.#follow(options, authorization);
      if (response.status !== 401 || round >= 2) return response;
      const next = await this.#auth.answer(response.headers['www-authenticate'], options.scope, authorization);
      if (next === undefined) return response;
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

  async #send(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<UpstreamResponse> {
    try {
      const response = await this.#dispatchers.for(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body, url };
    } catch (error) {
      throw fromNetworkError(error, `${method} ${url.origin}${url.pathname}`);
    }
  }

  /** Docker Hub reports its pull quota in `ratelimit-remaining: 76;w=21600`: log it. */
  #noteRateLimit(response: UpstreamResponse): void {
    const remaining = header(response.headers, 'ratelimit-remaining');
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

  /** HEAD of a manifest: its digest, media type and size, without pull quota on Docker Hub. */
  async headManifest(name: string, reference: string) {
    const response = await this.request({
      method: 'HEAD',
      path: `v2/${name}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scope: `repository:${name}:pull`,
    });
    await discard(response.body);
    if (response.status !== 200) throw statusError(response, `manifest ${name}:${reference}`);
    const length = Number(header(response.headers, 'content-length'));
    return {
      digest: header(response.headers, 'docker-content-digest'),
      mediaType: (header(response.headers, 'content-type') ?? '').split(';')[0]!.trim(),
      size: Number.isFinite(length) ? length : undefined,
    };
  }

  /** GET of a manifest, read into memory (bounded to 4 MiB). */
  async getManifest(name: string, reference: string): Promise<UpstreamManifest> {
    const response = await this.request({
      method: 'GET',
      path: `v2/${name}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scope: `repository:${name}:pull`,
    });
    if (response.status !== 200) {
      await discard(response.body);
      throw statusError(response, `manifest ${name}:${reference}`);
    }
    const body = await readBounded(response.body, MAX_MANIFEST_BYTES, `manifest ${name}:${reference}`);
    return {
      digest: header(response.headers, 'docker-content-digest'),
      mediaType: (header(response.headers, 'content-type') ?? '').split(';')[0]!.trim(),
      body,
    };
  }

  /** HEAD of a blob: its size. */
  async headBlob(name: string, digest: string): Promise<{ size: number }> {
    const response = await this.request({
      method: 'HEAD',
      path: `v2/${name}/blobs/${digest}`,
      scope: `repository:${name}:pull`,
      followRedirects: true,
    });
    await discard(response.body);
    if (response.status !== 200) throw statusError(response, `blob ${name}@${digest}`);
    const size = Number(header(response.headers, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `blob ${name}@${digest}: HEAD without a Content-Length`);
    }
    return { size };
  }

  /**
   * GET of a blob, redirects followed. `size` is the Content-Length when the upstream sent one.
   * The body is the live socket stream: the caller verifies the digest.
   */
  async getBlob(name: string, digest: string): Promise<{ size: number | undefined; body: Readable }> {
    const response = await this.request({
      method: 'GET',
      path: `v2/${name}/blobs/${digest}`,
      scope: `repository:${name}:pull`,
      followRedirects: true,
    });
    if (response.status !== 200) {
      await discard(response.body);
      throw statusError(response, `blob ${name}@${digest}`);
    }
    const length = Number(header(response.headers, 'content-length'));
    return { size: Number.isSafeInteger(length) && length >= 0 ? length : undefined, body: response.body };
  }

  /** Every tag of `name`, following `Link` pagination (bounded to 100 pages). */
  async listTags(name: string): Promise<string[]> {
    const tags: string[] = [];
    let path = `v2/${name}/tags/list?n=1000`;
    for (let page = 0; page < 100; page++) {
      const response = await this.request({ method: 'GET', path, scope: `repository:${name}:pull` });
      if (response.status !== 200) {
        await discard(response.body);
        throw statusError(response, `tags of ${name}`);
      }
      const body = parseJson(await readBounded(response.body, 16 * 1024 * 1024, `tags of ${name}`), `tags of ${name}`);
      const list = (body as { tags?: unknown }).tags;
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
    const response = await this.request({
      method: 'GET',
      path: `v2/${name}/referrers/${digest}`,
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      scope: `repository:${name}:pull`,
    });
    if (response.status === 404 || response.status === 405) {
      await discard(response.body);
      return [];
    }
    if (response.status !== 200) {
      await discard(response.body);
      throw statusError(response, `referrers of ${name}@${digest}`);
    }
    const body = parseJson(await readBounded(response.body, MAX_MANIFEST_BYTES, 'referrers'), 'referrers');
    const manifests = (body as { manifests?: unknown }).manifests;
    return Array.isArray(manifests) ? manifests : [];
  }

  /** Closes the pools. */
  async close(): Promise<void> {
    await this.#dispatchers.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms * (0.75 + Math.random() * 0.5)));
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: invalid JSON from the upstream`, { cause: error });
  }
}

/** Reads a small body into memory, refusing more than `limit` bytes. */
async function readBounded(body: Readable, limit: number, what: string): Promise<Buffer> {
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
