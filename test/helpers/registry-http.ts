/**
 * Raw HTTP steps of the distribution API for tests that need to stop between them (restart and
 * crash tests): start an upload, send a chunk, ask for the upload's progress, finish it. Blobs are
 * sent as streams; only small test payloads are ever buffered.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** Resolves a `Location` header against the registry's base URL. */
export function absolute(base: string, location: string | null): string {
  if (!location) throw new Error('response has no Location header');
  return new URL(location, base).toString();
}

/** POST /v2/<name>/blobs/uploads/ → the upload URL (202 expected). */
export async function startUpload(base: string, name: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`POST upload: ${res.status}`);
  return absolute(base, res.headers.get('location'));
}

/** PATCH one chunk at `offset`; returns the response (202 with the new Location and Range on success). */
export async function patchChunk(
  base: string,
  uploadUrl: string,
  chunk: Buffer,
  offset: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; location: string | null; range: string | null; body: string }> {
  const res = await fetch(uploadUrl, {
    method: 'PATCH',
    headers: {
      'content-type': 'application/octet-stream',
      'content-range': `${offset}-${offset + chunk.length - 1}`,
      'content-length': String(chunk.length),
      ...headers,
    },
    body: chunk,
  });
  const body = await res.text();
  return {
    status: res.status,
    location: res.headers.get('location') ? absolute(base, res.headers.get('location')) : null,
    range: res.headers.get('range'),
    body,
  };
}

/**
 * PATCH a whole stream (no Content-Range: a streamed, "chunked" upload of unknown length); the
 * new Location comes back absolute, like {@link patchChunk}'s.
 */
export async function patchStream(uploadUrl: string, body: Readable, headers: Record<string, string> = {}) {
  const res = await fetch(uploadUrl, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body: body as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const location = res.headers.get('location');
  return { status: res.status, location: location ? absolute(uploadUrl, location) : null, body: await res.text() };
}

/** PUT `?digest=` (optionally with a last chunk) to finish an upload; 201 expected. */
export async function finishUpload(
  uploadUrl: string,
  digest: string,
  body: Buffer = Buffer.alloc(0),
  headers: Record<string, string> = {},
): Promise<{ status: number; location: string | null; body: string }> {
  const url = new URL(uploadUrl);
  url.searchParams.set('digest', digest);
  const res = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length), ...headers },
    body,
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

/** GETs a blob and returns its sha256 digest and size, hashing the stream on the fly. */
export async function blobDigest(
  base: string,
  name: string,
  digest: string,
): Promise<{ status: number; digest: string; size: number }> {
  const res = await fetch(`${base}/v2/${name}/blobs/${digest}`);
  if (!res.ok || !res.body) {
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, digest: '', size: 0 };
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { status: res.status, digest: `sha256:${hash.digest('hex')}`, size };
}
