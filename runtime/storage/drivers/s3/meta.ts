/**
 * Metadata documents of the s3 blob store: one small object per key under `<prefix>/meta/`.
 *
 * S3 (and every compatible server worth using) gives read-after-write consistency and replaces an
 * object atomically, so a `put` is seen whole or not at all, by every replica. Two replicas writing
 * the same tag end with one of the two values everywhere (last writer wins). Documents that are
 * read, changed and written back (an index, a list) need more: {@link S3Meta.putIf} is a
 * compare-and-swap on the object's ETag with conditional PUTs.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { headEtag, httpStatusOf, isNotFound, type S3Connection, toStorageError, unquoteEtag } from './client.ts';
import type { S3Layout } from './layout.ts';

/** The metadata half of the s3 blob store. */
export class S3Meta {
  readonly #s3: S3Connection;
  readonly #layout: S3Layout;

  constructor(s3: S3Connection, layout: S3Layout) {
    this.#s3 = s3;
    this.#layout = layout;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const objectKey = this.#layout.meta(key);
    try {
      const result = await this.#s3.client.send(new GetObjectCommand({ Bucket: this.#s3.bucket, Key: objectKey }));
      return Buffer.from(await result.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toStorageError(error, `get meta ${key}`);
    }
  }

  /** One PUT: S3 replaces an object atomically, readers see the old or the new document. */
  async put(key: string, value: Buffer | string): Promise<void> {
    const objectKey = this.#layout.meta(key);
    try {
      await this.#s3.client.send(new PutObjectCommand({ Bucket: this.#s3.bucket, Key: objectKey, Body: value }));
    } catch (error) {
      throw toStorageError(error, `put meta ${key}`);
    }
  }

  /**
   * Extension beyond `BlobStore` (for read-modify-write documents shared by replicas): the
   * document with its version, the object's ETag, to pass to {@link putIf}.
   */
  async getVersioned(key: string): Promise<{ value: Buffer; version: string } | undefined> {
    const objectKey = this.#layout.meta(key);
    try {
      const result = await this.#s3.client.send(new GetObjectCommand({ Bucket: this.#s3.bucket, Key: objectKey }));
      const value = Buffer.from(await result.Body!.transformToByteArray());
      return { value, version: unquoteEtag(result.ETag) ?? '' };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toStorageError(error, `get meta ${key}`);
    }
  }

  /**
   * Compare-and-swap: writes only if the document is still at `version` (`null`: only if it does
   * not exist), with `If-Match` / `If-None-Match: *`. Returns false when another writer got there
   * first; the caller re-reads and retries. A server that answers a lost race with 5xx instead of
   * 412 is recognised by looking at the document's current version.
   */
  async putIf(key: string, value: Buffer | string, version: string | null): Promise<boolean> {
    const objectKey = this.#layout.meta(key);
    try {
      await this.#s3.client.send(
        new PutObjectCommand({
          Bucket: this.#s3.bucket,
          Key: objectKey,
          Body: value,
          IfMatch: version ?? undefined,
          IfNoneMatch: version === null ? '*' : undefined,
        }),
      );
      return true;
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 412 || status === 409) return false;
      if (status !== undefined && status >= 500 && (await headEtag(this.#s3, objectKey)) !== (version ?? undefined))
        return false;
      throw toStorageError(error, `put meta ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#s3.client.send(new DeleteObjectCommand({ Bucket: this.#s3.bucket, Key: this.#layout.meta(key) }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw toStorageError(error, `delete meta ${key}`);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const folder = this.#layout.metaFolder(prefix);
    const names = new Set<string>();
    let token: string | undefined;
    try {
      do {
        const page = await this.#s3.client.send(
          new ListObjectsV2Command({
            Bucket: this.#s3.bucket,
            Prefix: folder,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          const name = object.Key!.slice(folder.length);
          if (name !== '') names.add(name);
        }
        for (const common of page.CommonPrefixes ?? [])
          names.add(common.Prefix!.slice(folder.length).replace(/\/$/, ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw toStorageError(error, `list meta ${prefix}`);
    }
    return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
