/**
 * Header names and the small header grammars of the v2 API: byte ranges, upload ranges, Accept
 * lists, and `Link` pagination.
 */
import { RegistryError } from '../oci/errors.ts';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';
export const CONTENT_DIGEST_HEADER = 'Docker-Content-Digest';
export const UPLOAD_UUID_HEADER = 'Docker-Upload-UUID';
export const OCI_SUBJECT_HEADER = 'OCI-Subject';
export const OCI_FILTERS_HEADER = 'OCI-Filters-Applied';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** The largest manifest the API accepts, as distribution does. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * `Range: bytes=a-b | a- | -n` against a blob of `size` bytes. Undefined when there is no header
 * or it is not a single byte range (RFC 9110 lets a server ignore such a Range and send it all).
 * Throws `RANGE_INVALID` (416, with the blob size in `Content-Range`) when unsatisfiable.
 */
export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const unsatisfiable = () =>
    new RegistryError('RANGE_INVALID', {
      message: `requested range not satisfiable: the blob has ${size} bytes`,
      headers: { 'Content-Range': `bytes */${size}` },
    });
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || (match[2] !== '' && Number(match[2]) < start)) throw unsatisfiable();
  return { start, end };
}

/**
 * The upload `Range` header value for `offset` bytes received: `0-<offset-1>`, and `0-0` for an
 * empty session (what distribution sends and clients expect).
 */
export function formatUploadRange(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

/** `Content-Range: <start>-<end>` of a PATCH chunk (a `bytes ` prefix is tolerated), or undefined. */
export function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) {
    throw new RegistryError('RANGE_INVALID', { message: 'malformed Content-Range: expected <start>-<end>' });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', { message: 'Content-Range end is before its start' });
  return { start, end };
}

/** Every media type of the Accept header(s), parameters dropped (clients send one header or many). */
export function parseAccept(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values
    .flatMap((value) => value.split(','))
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .filter((type) => type.length > 0);
}

/** `?n=&last=` of a listing; `n` absent means "everything". */
export interface Page {
  readonly n: number | undefined;
  readonly last: string | undefined;
}

/**
 * Reads `?n=&last=`. An `n` that is not a non-negative decimal integer (`abc`, `-1`, `1.5`, or
 * more digits than any listing could use) is the client's mistake and gets a 400, as distribution
 * answers it; silently listing everything would hide it.
 *
 * @throws RegistryError `PAGINATION_NUMBER_INVALID`
 */
export function parsePage(query: URLSearchParams): Page {
  const raw = query.get('n');
  if (raw !== null && !/^\d{1,9}$/.test(raw)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', {
      message: `n=${JSON.stringify(raw).slice(1, -1)} is not a number of results: give a non-negative integer below 10^9`,
      detail: { n: raw },
    });
  }
  return { n: raw === null ? undefined : Number(raw), last: query.get('last') ?? undefined };
}

/**
 * Applies `?n=&last=` to a sorted list: the entries after `last`, at most `n`; `next` is the
 * `last` of the next page when more remain.
 */
export function paginate(sorted: readonly string[], page: Page): { items: string[]; next: string | undefined } {
  const after = page.last === undefined ? sorted : sorted.filter((item) => item > page.last!);
  if (page.n === undefined || after.length <= page.n) return { items: [...after], next: undefined };
  const items = after.slice(0, page.n);
  return { items, next: items.length > 0 ? items[items.length - 1] : undefined };
}

/** `Link: <path?n=&last=>; rel="next"`, with `extra` query parameters (e.g. `ns`) kept. */
export function formatNextLink(path: string, n: number, last: string, extra?: URLSearchParams): string {
  const query = new URLSearchParams(extra);
  query.set('n', String(n));
  query.set('last', last);
  return `<${path}?${query.toString()}>; rel="next"`;
}
