/**
 * The one HTTP client of the benchmark, used identically against regctl and the distribution
 * registry: an undici Pool with keep-alive per registry. Pulls count bytes and never hash (the
 * client must not be the bottleneck); pushes stream generated blobs.
 */
import { Pool } from 'undici';
import type { BenchBlob } from './blobs.ts';

export interface ClientOptions {
  /** Concurrent connections (default 8). */
  connections?: number;
  /** Headers sent with every request (e.g. Authorization). */
  headers?: Record<string, string>;
}

export class RegistryClient {
  readonly origin: string;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;

  constructor(origin: string, options: ClientOptions = {}) {
    this.origin = origin;
    this.#pool = new Pool(origin, {
      connections: options.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      bodyTimeout: 300_000,
      headersTimeout: 300_000,
    });
    this.#headers = options.headers ?? {};
  }

  /** The pool, for load loops that build their own requests. */
  get pool(): Pool {
    return this.#pool;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  async #request(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    options: {
      headers?: Record<string, string>;
      body?: NodeJS.ReadableStream | Buffer | readonly Buffer[] | null;
      expect: number;
    },
  ) {
    const res = await this.#pool.request({
      method,
      path,
      headers: { ...this.#headers, ...options.headers },
      body: (options.body ?? null) as Buffer | null,
    });
    if (res.statusCode !== options.expect) {
      const text = await res.body.text();
      throw new Error(`${method} ${path}: ${res.statusCode} (expected ${options.expect}) ${text.slice(0, 300)}`);
    }
    return res;
  }

  async #startUpload(name: string): Promise<string> {
    const res = await this.#request('POST', `/v2/${name}/blobs/uploads/`, { expect: 202 });
    await res.body.dump();
    const location = res.headers.location;
    if (typeof location !== 'string') throw new Error('upload without Location');
    const url = new URL(location, this.origin);
    return `${url.pathname}${url.search}`;
  }

  /** POST, then one PUT `?digest=` carrying the whole blob (any streamable content of known digest). */
  async pushMonolithic(name: string, blob: Pick<BenchBlob, 'digest' | 'size' | 'stream'>): Promise<void> {
    const upload = await this.#startUpload(name);
    const sep = upload.includes('?') ? '&' : '?';
    const res = await this.#request('PUT', `${upload}${sep}digest=${blob.digest}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: blob.stream(),
      expect: 201,
    });
    await res.body.dump();
  }

  /** POST, PATCH chunks of `chunkSize` with Content-Range, then an empty PUT `?digest=`. */
  async pushChunked(name: string, blob: BenchBlob, chunkSize: number): Promise<void> {
    let upload = await this.#startUpload(name);
    const stream = blob.stream();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let offset = 0;
    const flush = async () => {
      // The pieces go out as they are (undici writes an iterable body piece by piece): no copy.
      const pieces = pending;
      const length = pendingBytes;
      pending = [];
      pendingBytes = 0;
      const res = await this.#request('PATCH', upload, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + length - 1}`,
          'content-length': String(length),
        },
        body: pieces,
        expect: 202,
      });
      await res.body.dump();
      offset += length;
      const location = res.headers.location;
      if (typeof location === 'string') {
        const url = new URL(location, this.origin);
        upload = `${url.pathname}${url.search}`;
      }
    };
    for await (const piece of stream as AsyncIterable<Buffer>) {
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes >= chunkSize) await flush();
    }
    if (pendingBytes) await flush();
    const sep = upload.includes('?') ? '&' : '?';
    const res = await this.#request('PUT', `${upload}${sep}digest=${blob.digest}`, {
      headers: { 'content-length': '0' },
      expect: 201,
    });
    await res.body.dump();
  }

  /** GETs a blob and counts its bytes (no hashing). */
  async pullBlob(name: string, digest: string): Promise<number> {
    const res = await this.#request('GET', `/v2/${name}/blobs/${digest}`, { expect: 200 });
    let bytes = 0;
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    return bytes;
  }

  async putManifest(name: string, reference: string, body: Buffer, mediaType: string): Promise<void> {
    const res = await this.#request('PUT', `/v2/${name}/manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body,
      expect: 201,
    });
    await res.body.dump();
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
