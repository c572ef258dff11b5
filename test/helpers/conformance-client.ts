/**
 * The HTTP side of the OCI conformance replays (`test/e2e/oci-conformance-*.test.ts`): a
 * `regctl serve` of `examples/minimal` for the test file, and a small client that sends exactly the
 * request it is given (adding only Content-Length for a body) and returns the status, the headers
 * flattened to strings, the whole body, and the Location as a relative path.
 *
 * The blob steps below are the main-branch runner's (`conformance/api.go`): a POST + PUT push, and
 * a DELETE that checks the blob is gone at once.
 */
import { request } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { sha256 as sha } from './oci-image.ts';
import { type RegctlServer, startExample } from './regctl-server.ts';
import { TmpDirs } from './tmp.ts';

/** A response read in full. */
export interface ConformanceResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
  /** Location without scheme and host (path and query), '' when absent. */
  location: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Query parameters set on the URL (after the path's own). */
  query?: Record<string, string>;
  body?: Buffer;
}

export interface ConformanceClient {
  /** `http://127.0.0.1:PORT` of the server (once the file's `beforeAll` has run). */
  readonly url: string;
  /** One request; `<name>` in `path` stands for the default name given to {@link useMinimalExample}. */
  call(method: string, path: string, options?: CallOptions): Promise<ConformanceResponse>;
  /** Resolves a Location against the server and adds `?digest=` (keeping the session's query). */
  withDigest(location: string | undefined, digest: string): string;
  /** POST a session, then PUT the whole blob with `?digest=`; returns the PUT's response. */
  postPut(repo: string, blob: Buffer, digest?: string): Promise<ConformanceResponse>;
  /** DELETE a blob (202), then HEAD it (404: OCI_API_BLOBS_ATOMIC, the default). */
  deleteBlob(repo: string, blob: Buffer | string): Promise<void>;
}

/** Content-Type `application/octet-stream`, plus `extra` headers. */
export const octet = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/octet-stream', ...extra });

/**
 * Serves `examples/minimal` for the calling test file (registers its `beforeAll`/`afterAll`) and
 * returns a client of it. `name` replaces `<name>` in request paths.
 */
export function useMinimalExample(options: { name?: string } = {}): ConformanceClient {
  const dirs = new TmpDirs();
  let server: RegctlServer | undefined;
  beforeAll(async () => {
    server = await startExample('minimal', await dirs.make());
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await dirs.cleanup();
  });
  const base = () => {
    if (!server) throw new Error('useMinimalExample: the server starts in beforeAll; call it from a test');
    return server.url;
  };
  const relative = (location: string) => {
    const u = new URL(location, base());
    return u.pathname + u.search;
  };

  async function call(method: string, path: string, opts: CallOptions = {}): Promise<ConformanceResponse> {
    const url = new URL(options.name ? path.replaceAll('<name>', options.name) : path, base());
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers = { ...(opts.headers ?? {}) };
    if (opts.body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
      headers['content-length'] = String(opts.body.length);
    const res = await request(url, { method: method as 'GET', headers, body: opts.body });
    const body = Buffer.from(await res.body.arrayBuffer());
    const flat: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
    return { status: res.statusCode, headers: flat, body, location: flat.location ? relative(flat.location) : '' };
  }

  function withDigest(location: string | undefined, digest: string): string {
    expect(location, 'Location header').toBeTruthy();
    const u = new URL(location!, base());
    u.searchParams.set('digest', digest);
    return u.pathname + u.search;
  }

  async function postPut(repo: string, blob: Buffer, digest = sha(blob)) {
    const post = await call('POST', `/v2/${repo}/blobs/uploads/`);
    expect(post.status).toBe(202);
    return call('PUT', withDigest(post.headers.location, digest), { headers: octet(), body: blob });
  }

  async function deleteBlob(repo: string, blob: Buffer | string) {
    const d = typeof blob === 'string' ? blob : sha(blob);
    const del = await call('DELETE', `/v2/${repo}/blobs/${d}`);
    expect(del.status, `DELETE blob ${d}`).toBe(202);
    // OCI_API_BLOBS_ATOMIC defaults to true: the blob is gone at once.
    expect((await call('HEAD', `/v2/${repo}/blobs/${d}`)).status).toBe(404);
  }

  return {
    get url() {
      return base();
    },
    call,
    withDigest,
    postPut,
    deleteBlob,
  };
}
