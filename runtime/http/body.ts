/**
 * Request bodies. The v2 plugin's content-type parser hands every body over as the raw request
 * stream: blob bytes go to the repository as a stream and are never buffered here; a manifest is
 * the one body read into memory, bounded by {@link MAX_MANIFEST_BYTES}.
 */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.ts';
import { MAX_MANIFEST_BYTES } from './headers.ts';

/** The request body stream, or undefined when the request has none. */
export function bodyStream(request: FastifyRequest): Readable | undefined {
  const body = request.body as Readable | undefined | null;
  if (body === undefined || body === null) return undefined;
  return body;
}

/** True when the request announces no body bytes (no Transfer-Encoding, Content-Length absent or 0). */
export function isEmptyBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/** How much of an oversized manifest body is drained before the connection is dropped instead. */
const DRAIN_LIMIT_BYTES = 8 * MAX_MANIFEST_BYTES;

function tooLarge(size: number | undefined): RegistryError {
  return new RegistryError('MANIFEST_INVALID', {
    status: 413,
    message: `manifest too large: the limit is ${MAX_MANIFEST_BYTES} bytes`,
    detail: { limit: MAX_MANIFEST_BYTES, ...(size === undefined ? {} : { size }) },
  });
}

/**
 * Reads a manifest body into a Buffer: 413 `MANIFEST_INVALID` as soon as the announced length or
 * the bytes received pass 4 MiB, `SIZE_INVALID` when fewer bytes arrive than Content-Length
 * announced.
 */
export async function readManifestBody(request: FastifyRequest): Promise<Buffer> {
  const announced = request.headers['content-length'];
  const expected = announced === undefined ? undefined : Number(announced);
  if (expected !== undefined && expected > MAX_MANIFEST_BYTES) throw tooLarge(expected);
  const stream = bodyStream(request);
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  // Past the limit the rest is read and dropped (up to a bound) rather than left unread: a client
  // still sending would otherwise see a reset instead of the 413.
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size <= MAX_MANIFEST_BYTES) chunks.push(buffer);
    else if (size > DRAIN_LIMIT_BYTES) break;
  }
  if (size > MAX_MANIFEST_BYTES) throw tooLarge(undefined);
  if (expected !== undefined && size !== expected) {
    throw new RegistryError('SIZE_INVALID', { detail: { expected, received: size } });
  }
  return Buffer.concat(chunks, size);
}
