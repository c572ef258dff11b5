/**
 * The s3 driver's pure parts, without a server: the bucket layout and key validation, secret
 * resolution, ETag handling and the translation of SDK failures into StorageError codes.
 */
import { describe, expect, it } from 'vitest';
import { toStorageError, unquoteEtag } from '../../../../runtime/storage/drivers/s3/client.ts';
import { S3Layout } from '../../../../runtime/storage/drivers/s3/layout.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';

const HEX = 'a'.repeat(64);

describe('S3Layout', () => {
  it('puts everything under the prefix, or at the root when it is empty', () => {
    const prefixed = new S3Layout('/team/registry/');
    expect(prefixed.blob(`sha256:${HEX}`)).toBe(`team/registry/blobs/sha256/${HEX}`);
    expect(prefixed.blob(`sha512:${'b'.repeat(128)}`)).toBe(`team/registry/blobs/sha512/${'b'.repeat(128)}`);
    expect(prefixed.meta('repos/app/tags/v1.0')).toBe('team/registry/meta/repos/app/tags/v1.0');
    expect(prefixed.metaFolder('')).toBe('team/registry/meta/');
    expect(prefixed.metaFolder('repos')).toBe('team/registry/meta/repos/');
    expect(prefixed.session('0123456789abcdef0123456789abcdef')).toBe(
      'team/registry/uploads/0123456789abcdef0123456789abcdef/session.json',
    );
    const root = new S3Layout('');
    expect(root.blob(`sha256:${HEX}`)).toBe(`blobs/sha256/${HEX}`);
    expect(root.root()).toBe('');
  });

  it('refuses malformed digests, metadata keys and upload ids', () => {
    const layout = new S3Layout('p');
    for (const digest of ['sha256:abc', `md5:${HEX}`, `sha256:${HEX.toUpperCase()}`, `sha256:${HEX}/../x`]) {
      expect(() => layout.blob(digest)).toThrowError(expect.objectContaining({ code: 'STORAGE_INVALID_KEY' }));
    }
    for (const key of ['', 'a//b', 'a/../b', './a', 'a/b/', 'tags/with space', 'a/.']) {
      expect(() => layout.meta(key)).toThrowError(expect.objectContaining({ code: 'STORAGE_INVALID_KEY' }));
    }
    for (const id of ['short', '../../etc', 'a'.repeat(65)]) {
      expect(() => layout.session(id)).toThrowError(expect.objectContaining({ code: 'STORAGE_UPLOAD_UNKNOWN' }));
    }
  });
});

describe('s3 client helpers', () => {
  it('strips quotes and weak markers from ETags', () => {
    expect(unquoteEtag('"abc"')).toBe('abc');
    expect(unquoteEtag('W/"abc"')).toBe('abc');
    expect(unquoteEtag('abc')).toBe('abc');
    expect(unquoteEtag('')).toBeUndefined();
    expect(unquoteEtag(undefined)).toBeUndefined();
  });

  it('translates SDK failures into stable codes', () => {
    const sdk = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    const cases: [Error, string][] = [
      [sdk('NoSuchKey', 404), 'STORAGE_NOT_FOUND'],
      [sdk('NotFound', 404), 'STORAGE_NOT_FOUND'],
      [sdk('NoSuchUpload', 404), 'STORAGE_UPLOAD_UNKNOWN'],
      [sdk('NoSuchBucket', 404), 'STORAGE_IO'],
      [sdk('PreconditionFailed', 412), 'STORAGE_PRECONDITION_FAILED'],
      [sdk('AccessDenied', 403), 'STORAGE_IO'],
      [sdk('InternalError', 500), 'STORAGE_IO'],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'STORAGE_IO'],
    ];
    for (const [error, code] of cases) {
      const translated = toStorageError(error, 'get x');
      expect(translated.code).toBe(code);
      expect(translated.cause).toBe(error);
      expect(translated.message).toMatch(/^s3 get x: /);
    }
    const already = toStorageError(toStorageError(sdk('NoSuchKey', 404), 'a'), 'b');
    expect(isStorageError(already, 'STORAGE_NOT_FOUND')).toBe(true);
  });
});
