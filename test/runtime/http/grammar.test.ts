/** The small grammars of the v2 URL and headers. */
import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../../runtime/http/endpoints.ts';
import {
  formatUploadRange,
  paginate,
  parseAccept,
  parseByteRange,
  parseContentRange,
} from '../../../runtime/http/headers.ts';
import { hostWithoutPort } from '../../../runtime/http/resolve-repository.ts';
import { isValidDigest, isValidName, isValidTag, parseReference } from '../../../runtime/oci/names.ts';

describe('names', () => {
  it.each([
    ['a', true],
    ['library/alpine', true],
    ['a.b_c__d---e/f', true],
    ['a0/b1/c2', true],
    ['A', false],
    ['a__', false],
    ['a___b', false],
    ['.a', false],
    ['a/../b', false],
    ['..', false],
    ['/a', false],
    ['a/', false],
    ['a//b', false],
    ['a b', false],
    ['a'.repeat(255), true],
    ['a'.repeat(256), false],
  ])('%s → %s', (name, valid) => {
    expect(isValidName(name)).toBe(valid);
  });

  it('tags and digests', () => {
    expect(isValidTag('v1.2.3-rc_1')).toBe(true);
    expect(isValidTag('_x')).toBe(true);
    expect(isValidTag('.x')).toBe(false);
    expect(isValidTag('x'.repeat(128))).toBe(true);
    expect(isValidTag('x'.repeat(129))).toBe(false);
    expect(isValidDigest(`sha256:${'0'.repeat(64)}`)).toBe(true);
    expect(isValidDigest(`sha512:${'f'.repeat(128)}`)).toBe(true);
    expect(isValidDigest(`sha256:${'0'.repeat(63)}`)).toBe(false);
    expect(isValidDigest(`sha384:${'0'.repeat(96)}`)).toBe(false);
    expect(parseReference('latest')).toEqual({ kind: 'tag', value: 'latest' });
    expect(() => parseReference('sha256:zz')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
  });
});

describe('endpoints', () => {
  it('parses from the end, so names may contain the route words', () => {
    expect(parseEndpoint('')).toEqual({ kind: 'base' });
    expect(parseEndpoint('_catalog')).toEqual({ kind: 'catalog' });
    expect(parseEndpoint('manifests/manifests/latest')).toEqual({
      kind: 'manifest',
      name: 'manifests',
      reference: 'latest',
    });
    expect(parseEndpoint('a/blobs/b/blobs/sha256:x')).toEqual({ kind: 'blob', name: 'a/blobs/b', digest: 'sha256:x' });
    expect(parseEndpoint('a/b/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'a/b' });
    expect(parseEndpoint('a/b/blobs/uploads')).toEqual({ kind: 'uploads', name: 'a/b' });
    expect(parseEndpoint('a/blobs/uploads/123')).toEqual({ kind: 'upload', name: 'a', id: '123' });
    expect(parseEndpoint('tags/list/tags/list')).toEqual({ kind: 'tags', name: 'tags/list' });
    expect(parseEndpoint('a/referrers/sha256:x')).toEqual({ kind: 'referrers', name: 'a', digest: 'sha256:x' });
    expect(parseEndpoint('a/unknown')).toBeUndefined();
  });
});

describe('headers', () => {
  it('byte ranges', () => {
    expect(parseByteRange(undefined, 10)).toBeUndefined();
    expect(parseByteRange('bytes=0-3', 10)).toEqual({ start: 0, end: 3 });
    expect(parseByteRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseByteRange('bytes=-4', 10)).toEqual({ start: 6, end: 9 });
    expect(parseByteRange('bytes=-40', 10)).toEqual({ start: 0, end: 9 });
    expect(parseByteRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(() => parseByteRange('bytes=10-', 10)).toThrow(expect.objectContaining({ status: 416 }));
    expect(() => parseByteRange('bytes=5-2', 10)).toThrow(expect.objectContaining({ status: 416 }));
  });

  it('upload ranges', () => {
    expect(formatUploadRange(0)).toBe('0-0');
    expect(formatUploadRange(10)).toBe('0-9');
    expect(parseContentRange('0-9')).toEqual({ start: 0, end: 9 });
    expect(parseContentRange('bytes 10-19/*')).toEqual({ start: 10, end: 19 });
    expect(() => parseContentRange('x')).toThrow(expect.objectContaining({ code: 'RANGE_INVALID' }));
  });

  it('Accept lists and pagination', () => {
    expect(parseAccept(['a/b;q=0.5, c/d', 'E/F'])).toEqual(['a/b', 'c/d', 'e/f']);
    expect(paginate(['a', 'b', 'c'], { n: 2, last: undefined })).toEqual({ items: ['a', 'b'], next: 'b' });
    expect(paginate(['a', 'b', 'c'], { n: 2, last: 'b' })).toEqual({ items: ['c'], next: undefined });
    expect(paginate(['a', 'b'], { n: 2, last: undefined })).toEqual({ items: ['a', 'b'], next: undefined });
    expect(hostWithoutPort('Hub.Example.test:5000')).toBe('hub.example.test');
    expect(hostWithoutPort('[::1]:5000')).toBe('[::1]');
  });
});
