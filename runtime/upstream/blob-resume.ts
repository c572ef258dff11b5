/**
 * Resuming an upstream blob body after its connection dropped: a `Range: bytes=N-` GET from the
 * byte reached, with `If-Range` when the first answer had a strong ETag, so a changed object is
 * answered whole (200) instead of being spliced. What is accepted as a continuation:
 *
 * - a 206 whose `Content-Range` starts at exactly N, ends at the last byte and names the blob's
 *   size (when known), with the first answer's ETag (when there was one) → the piece starts at N;
 * - a 200 with the blob's length → the piece starts at 0: the reader re-reads the first N bytes,
 *   checks that they hash the same as the N bytes it already passed on, and continues from there
 *   (stream-through.ts), so even an upstream without range support never cuts the client;
 * - any other 206 (a wrong range, another ETag) is dropped and the blob asked for whole (a 200,
 *   as above).
 *
 * Bounded: at most {@link MAX_BLOB_RESUMES} resumes per fetch, whatever progress each made, with
 * a doubling back-off from {@link RESUME_DELAY_MS}; a body timeout is never resumed (the
 * transport's rule: a silent upstream must not multiply the wait).
 *
 * Why not undici's `RetryHandler` (which resumes with Range inside the dispatcher): it replays
 * the request as last dispatched, so after Docker Hub's redirect it would go straight back to the
 * CDN URL (whose signature may have expired) without the registry's auth round (an expired token
 * means a 401 it cannot answer); its failure on a 200 is an error, where a proxy can re-read and
 * skip; and the blob path needs to know where each piece starts to keep one hash across pieces
 * and hold the client's last chunk. So the resume is one more request through the transport
 * (auth, redirects, retries of the request itself), and the splicing lives with the hash.
 */
import type { Readable } from 'node:stream';
import { UpstreamError } from './errors.ts';
import { contentLengthOf, discard, header, type UpstreamResponse } from './responses.ts';

/** Resumes per blob fetch (each after a dropped connection), whatever progress each made. */
export const MAX_BLOB_RESUMES = 4;
/** First back-off before a resume, doubled for each further one. */
export const RESUME_DELAY_MS = 100;

/** Network error codes of a dropped connection (worth a resume); timeouts are not among them. */
const DROP_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True when a body failed because its connection dropped (not a timeout, not our own abort). */
export function isDroppedConnection(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 4; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && DROP_CODES.has(code)) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** A `Content-Range: bytes start-end/total` value (`total` undefined for `*`), or undefined. */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total?: number } | undefined {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value ?? '');
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return { start, end, total };
}

/** The response's ETag when it is a strong one (a weak ETag cannot validate a range). */
export function strongEtag(headers: UpstreamResponse['headers']): string | undefined {
  const etag = header(headers, 'etag')?.trim();
  return etag === undefined || etag === '' || etag.startsWith('W/') ? undefined : etag;
}

/** A piece of a blob body: its bytes from `start` on. */
export interface BlobPiece {
  readonly body: Readable;
  readonly start: number;
}

/** Sends a blob GET with `headers` (Range, If-Range); any 200 or 206 answer is returned. */
export type BlobRequest = (headers: Record<string, string>) => Promise<UpstreamResponse>;

/** Options of {@link BlobResumer}. */
export interface BlobResumerOptions {
  /** What the errors name, e.g. `blob library/alpine@sha256:…`. */
  readonly what: string;
  /** The first answer's headers (its ETag validates the resumes). */
  readonly first: UpstreamResponse['headers'];
  /** The blob's size, when the first answer said it. */
  readonly size: number | undefined;
  readonly request: BlobRequest;
  readonly maxResumes?: number;
  readonly delayMs?: number;
}

/** The resumes of one blob fetch; see the module comment. */
export class BlobResumer {
  readonly #options: BlobResumerOptions;
  readonly #etag: string | undefined;
  #resumes = 0;

  constructor(options: BlobResumerOptions) {
    this.#options = options;
    this.#etag = strongEtag(options.first);
  }

  /** Resumes made so far. */
  get resumes(): number {
    return this.#resumes;
  }

  /**
   * The blob from byte `from` on (a piece starting there or at 0). Throws `UPSTREAM_UNREACHABLE`
   * once the resumes are used up; request failures as the transport throws them.
   */
  async resume(from: number): Promise<BlobPiece> {
    const { what, size } = this.#options;
    const max = this.#options.maxResumes ?? MAX_BLOB_RESUMES;
    if (this.#resumes >= max) {
      throw new UpstreamError(
        'UPSTREAM_UNREACHABLE',
        `${what}: the upstream connection dropped ${this.#resumes + 1} times; gave up at byte ${from}`,
        { reason: `the connection dropped ${this.#resumes + 1} times mid-blob` },
      );
    }
    await sleep((this.#options.delayMs ?? RESUME_DELAY_MS) * 2 ** this.#resumes);
    this.#resumes++;
    if (from > 0 && (size === undefined || from < size)) {
      const headers: Record<string, string> = { range: `bytes=${from}-` };
      if (this.#etag !== undefined) headers['if-range'] = this.#etag;
      const answer = await this.#options.request(headers);
      if (answer.status === 206 && this.#continues(answer, from)) return { body: answer.body, start: from };
      if (answer.status === 200) return this.#whole(answer);
      await discard(answer.body);
    }
    return this.#whole(await this.#options.request({}));
  }

  /** A 206 that continues the blob at `from`: the range, the size and the ETag agree. */
  #continues(answer: UpstreamResponse, from: number): boolean {
    const range = parseContentRange(header(answer.headers, 'content-range'));
    if (range === undefined || range.start !== from) return false;
    const total = range.total ?? this.#options.size;
    if (total !== undefined && range.end !== total - 1) return false;
    if (this.#options.size !== undefined && range.total !== undefined && range.total !== this.#options.size) {
      return false;
    }
    const etag = strongEtag(answer.headers);
    return this.#etag === undefined || etag === undefined || etag === this.#etag;
  }

  /** A whole-body answer (200 of the right length) as a piece from 0. */
  async #whole(answer: UpstreamResponse): Promise<BlobPiece> {
    const { what, size } = this.#options;
    const length = contentLengthOf(answer.headers);
    if (answer.status !== 200 || (size !== undefined && length !== undefined && length !== size)) {
      await discard(answer.body);
      throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what}: the restarted GET answered ${answer.status}`, {
        status: answer.status,
        reason: `unexpected status ${answer.status} on a resume`,
      });
    }
    return { body: answer.body, start: 0 };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
