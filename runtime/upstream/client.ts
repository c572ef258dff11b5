/**
 * The client of one upstream registry (the `remote` of a proxy repository, and regctl's own
 * clients): the distribution API calls a proxy makes — manifests, blobs, tags, referrers — over
 * {@link UpstreamTransport} (transport.ts: pools, auth, redirects, retries, failures and health).
 */
import type { Readable } from 'node:stream';
import { NO_UPSTREAM_OBSERVER, type UpstreamObserver } from '../events.ts';
import { parseDigest } from '../oci/digest.ts';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.ts';
import { OCI_INDEX, SUPPORTED_MANIFEST_MEDIA_TYPES } from '../oci/media-types.ts';
import { isUpstreamError, UpstreamError } from './errors.ts';
import {
  contentLengthOf,
  contentTypeOf,
  discard,
  header,
  parseJson,
  readBounded,
  type UpstreamResponse,
} from './responses.ts';
import {
  type UpstreamHealth,
  type UpstreamRequest,
  UpstreamTransport,
  type UpstreamTransportOptions,
  type UpstreamWrite,
} from './transport.ts';

export type { UpstreamHealth, UpstreamLog, UpstreamWrite } from './transport.ts';
/** Options of {@link UpstreamClient}. */
export type UpstreamClientOptions = UpstreamTransportOptions;

/** Every manifest format the registry can store: the upstream may pick any. */
const MANIFEST_ACCEPT = SUPPORTED_MANIFEST_MEDIA_TYPES.join(', ');
/** Upper bound of a tag list page read into memory. */
const MAX_TAG_LIST_BYTES = 16 * 1024 * 1024;

/** A manifest as the upstream served it. */
export interface UpstreamManifest {
  readonly digest: string | undefined;
  readonly mediaType: string;
  readonly body: Buffer;
}

/** A blob body as the upstream served it (see {@link UpstreamClient.getBlob}). */
export interface UpstreamBlob {
  /** The Content-Length, when sent. */
  readonly size: number | undefined;
  readonly body: Readable;
  /** The whole answer: status 200, or 206 to a `Range`; its headers (ETag, Content-Range). */
  readonly response: UpstreamResponse;
}

/** The client of one upstream registry. Stateless apart from pools and the token cache. */
export class UpstreamClient {
  readonly #transport: UpstreamTransport;
  readonly #observer: UpstreamObserver;

  constructor(options: UpstreamClientOptions) {
    this.#transport = new UpstreamTransport(options);
    this.#observer = options.observer ?? NO_UPSTREAM_OBSERVER;
  }

  /** The upstream's health as last seen (a live object: copy it to keep a snapshot). */
  get health(): Readonly<UpstreamHealth> {
    return this.#transport.health;
  }

  /** Requests to this upstream holding a slot, and those waiting for one (`maxConcurrency`). */
  get load(): { readonly active: number; readonly queued: number } {
    return this.#transport.load;
  }

  /** The upstream's base URL. */
  get url(): string {
    return this.#transport.url;
  }

  /**
   * Sends an idempotent request to `path` (relative to the base, e.g. `v2/library/alpine/tags/list`)
   * with auth, retries and (when `followRedirects`) redirects. Any status is returned; network
   * failures throw `UPSTREAM_TIMEOUT` / `UPSTREAM_UNREACHABLE`.
   */
  async request(options: UpstreamRequest): Promise<UpstreamResponse> {
    return (await this.#transport.request(options)).response;
  }

  /** {@link request}, with the Authorization the answering request carried (for {@link failure}). */
  async send(options: UpstreamRequest): Promise<{ response: UpstreamResponse; authorization: string | undefined }> {
    return this.#transport.request(options);
  }

  /** Sends a write to the registry (regctl's own clients only: a proxy never writes upstream). */
  async write(options: UpstreamWrite): Promise<{ response: UpstreamResponse; authorization: string | undefined }> {
    return this.#transport.write(options);
  }

  /** The error of a non-success answer to {@link request} or {@link write}, its body consumed. */
  async failure(response: UpstreamResponse, what: string, sent: string | undefined): Promise<UpstreamError> {
    return this.#transport.failure(response, what, sent);
  }

  /** HEAD of a manifest: its digest, media type and size, without pull quota on Docker Hub. */
  async headManifest(name: string, reference: string) {
    const response = await this.#transport.expectOk(name, `manifest ${name}:${reference}`, {
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
    const response = await this.#transport.expectOk(name, what, {
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
    const response = await this.#transport.expectOk(name, what, {
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
   * The body is the live socket stream: the caller verifies the digest. `headers` (a `Range` and
   * `If-Range` of a resume, blob-resume.ts) make a 206 an answer too; any other status throws.
   */
  async getBlob(name: string, digest: string, headers?: Record<string, string>): Promise<UpstreamBlob> {
    // The caller reads the body (stream-through.ts), and reports its bytes with {@link blobBytes}.
    const what = `blob ${name}@${digest}`;
    const { response, authorization } = await this.#transport.request({
      method: 'GET',
      path: `v2/${name}/blobs/${digest}`,
      headers,
      scope: `repository:${name}:pull`,
      followRedirects: true,
    });
    const ranged = headers?.range !== undefined && response.status === 206;
    if (response.status !== 200 && !ranged) throw await this.#transport.failure(response, what, authorization);
    return { size: contentLengthOf(response.headers), body: response.body, response };
  }

  /** Every tag of `name`, following `Link` pagination (bounded to 100 pages). */
  async listTags(name: string): Promise<string[]> {
    const what = `tags of ${name}`;
    const tags: string[] = [];
    let path = `v2/${name}/tags/list?n=1000`;
    for (let page = 0; page < 100; page++) {
      const response = await this.#transport.expectOk(name, what, { method: 'GET', path });
      const body = parseJson(await readBounded(response.body, MAX_TAG_LIST_BYTES, what), what);
      const list = (body as { tags?: unknown } | null)?.tags;
      if (Array.isArray(list)) for (const tag of list) if (typeof tag === 'string') tags.push(tag);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(response.headers, 'link') ?? '');
      if (next === null) break;
      const nextUrl = new URL(next[1]!, this.#transport.base);
      path = `${nextUrl.pathname}${nextUrl.search}`;
    }
    return [...new Set(tags)].sort();
  }

  /**
   * The upstream's referrers index of `digest` (OCI 1.1), or [] when it has no referrers API;
   * with `tagFallback`, a registry without the API is asked for the index tagged `sha256-<hex>`
   * instead (the spec's fallback tag schema: what clients that push signatures there write).
   */
  async listReferrers(name: string, digest: string, options: { tagFallback?: boolean } = {}): Promise<unknown[]> {
    const what = `referrers of ${name}@${digest}`;
    const { response, authorization } = await this.#transport.request({
      method: 'GET',
      path: `v2/${name}/referrers/${digest}`,
      headers: { accept: OCI_INDEX },
      scope: `repository:${name}:pull`,
    });
    if (response.status !== 200) {
      if (response.status === 404 || response.status === 405) {
        await discard(response.body);
        return options.tagFallback === true ? this.#referrersByTag(name, digest, what) : [];
      }
      throw await this.#transport.failure(response, what, authorization);
    }
    return manifestsOf(parseJson(await readBounded(response.body, MAX_MANIFEST_BYTES, what), what));
  }

  async #referrersByTag(name: string, digest: string, what: string): Promise<unknown[]> {
    const { algorithm, hex } = parseDigest(digest);
    try {
      return manifestsOf(parseJson((await this.getManifest(name, `${algorithm}-${hex}`)).body, what));
    } catch (error) {
      if (isUpstreamError(error, 'UPSTREAM_NOT_FOUND')) return [];
      throw error;
    }
  }

  /** Reports `count` blob body bytes received from this upstream (the reader of `getBlob`'s body calls it). */
  blobBytes(count: number): void {
    this.#observer.bytes('blob', count);
  }

  /** Closes the pools. */
  async close(): Promise<void> {
    await this.#transport.close();
  }
}

/** The `manifests` of an index document, or [] for anything else (`null`, no list). */
function manifestsOf(index: unknown): unknown[] {
  const manifests = (index as { manifests?: unknown } | null)?.manifests;
  return Array.isArray(manifests) ? manifests : [];
}
