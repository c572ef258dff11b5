/**
 * BlobResumer: the request a resume sends (Range from the byte reached, If-Range with a strong
 * ETag), which answers count as a continuation, which are asked again whole, and the bound.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BlobResumer,
  isDroppedConnection,
  parseContentRange,
  strongEtag,
} from '../../../runtime/upstream/blob-resume.ts';
import type { UpstreamResponse } from '../../../runtime/upstream/responses.ts';

const SIZE = 1000;

function answer(status: number, headers: Record<string, string>): UpstreamResponse {
  return { status, headers, body: Readable.from([Buffer.alloc(0)]), url: new URL('http://127.0.0.1/') };
}

/** A resumer whose requests are answered by `answers` in turn; `sent` records their headers. */
function resumer(first: Record<string, string>, answers: UpstreamResponse[], maxResumes = 4) {
  const sent: Array<Record<string, string>> = [];
  const r = new BlobResumer({
    what: 'blob a@sha256:1',
    first,
    size: SIZE,
    delayMs: 1,
    maxResumes,
    request: async (headers) => {
      sent.push(headers);
      const next = answers.shift();
      if (next === undefined) throw new Error('no more answers');
      return next;
    },
  });
  return { r, sent };
}

describe('blob resume helpers', () => {
  it('parses Content-Range and refuses what is not a valid one', () => {
    expect(parseContentRange('bytes 100-999/1000')).toEqual({ start: 100, end: 999, total: 1000 });
    expect(parseContentRange('bytes 100-999/*')).toEqual({ start: 100, end: 999, total: undefined });
    expect(parseContentRange('bytes 100-1000/1000')).toBeUndefined();
    expect(parseContentRange('bytes 9-8/1000')).toBeUndefined();
    expect(parseContentRange('items 1-2/3')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });

  it('a strong ETag validates; a weak one does not', () => {
    expect(strongEtag({ etag: '"sha256:abc"' })).toBe('"sha256:abc"');
    expect(strongEtag({ etag: 'W/"abc"' })).toBeUndefined();
    expect(strongEtag({})).toBeUndefined();
  });

  it('a dropped connection is resumable, also as a cause; a timeout or a plain error is not', () => {
    expect(isDroppedConnection(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe(true);
    expect(isDroppedConnection(new Error('x', { cause: Object.assign(new Error('y'), { code: 'ECONNRESET' }) }))).toBe(
      true,
    );
    expect(isDroppedConnection(Object.assign(new Error('x'), { code: 'UND_ERR_BODY_TIMEOUT' }))).toBe(false);
    expect(isDroppedConnection(new Error('x'))).toBe(false);
  });
});

describe('BlobResumer', () => {
  it('asks for the rest with Range and If-Range, and takes a matching 206 as the piece from there', async () => {
    const { r, sent } = resumer({ etag: '"sha256:1"' }, [
      answer(206, { 'content-range': 'bytes 400-999/1000', etag: '"sha256:1"', 'content-length': '600' }),
    ]);
    const piece = await r.resume(400);
    expect(piece.start).toBe(400);
    expect(sent).toEqual([{ range: 'bytes=400-', 'if-range': '"sha256:1"' }]);
    expect(r.resumes).toBe(1);
  });

  it('no If-Range without a strong ETag', async () => {
    const { r, sent } = resumer({ etag: 'W/"x"' }, [answer(206, { 'content-range': 'bytes 10-999/1000' })]);
    expect((await r.resume(10)).start).toBe(10);
    expect(sent).toEqual([{ range: 'bytes=10-' }]);
  });

  it('a 200 to the resume (no range support, or a changed ETag) is the piece from 0', async () => {
    const { r, sent } = resumer({}, [answer(200, { 'content-length': String(SIZE) })]);
    expect((await r.resume(400)).start).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('a 206 that does not continue at the byte reached is dropped; the blob is asked for whole', async () => {
    const wrongs: Array<Record<string, string>> = [
      { 'content-range': 'bytes 0-999/1000' },
      { 'content-range': 'bytes 400-998/1000' },
      { 'content-range': 'bytes 400-1999/2000' },
      { 'content-range': 'bytes 400-999/1000', etag: '"other"' },
      {},
    ];
    for (const wrong of wrongs) {
      const { r, sent } = resumer({ etag: '"sha256:1"' }, [
        answer(206, wrong),
        answer(200, { 'content-length': String(SIZE) }),
      ]);
      expect((await r.resume(400)).start).toBe(0);
      expect(sent).toEqual([{ range: 'bytes=400-', 'if-range': '"sha256:1"' }, {}]);
    }
  });

  it('a whole answer of another length, or another status, is an error', async () => {
    const { r } = resumer({}, [answer(200, { 'content-length': '5' })]);
    await expect(r.resume(400)).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
    const other = resumer({}, [answer(206, { 'content-range': 'bytes 0-9/1000' }), answer(206, {})]);
    await expect(other.r.resume(400)).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
  });

  it('is bounded: after maxResumes it gives up with UPSTREAM_UNREACHABLE, sending nothing more', async () => {
    const answers = Array.from({ length: 5 }, () => answer(206, { 'content-range': 'bytes 1-999/1000' }));
    const { r, sent } = resumer({}, answers, 2);
    await r.resume(1);
    await r.resume(1);
    await expect(r.resume(1)).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    expect(sent).toHaveLength(2);
  });
});
