/**
 * The garbage-collection half of the s3 driver (`BlobLifecycle` in storage/blob-store.ts): blob
 * listings with sizes and write times (ListObjectsV2 pages of 1000, so 100 000 blobs are 100
 * requests), and quarantine under `gc/quarantine/` (layout.ts).
 *
 * S3 has no rename: a quarantine is a server-side copy to the quarantine key, then the delete of
 * the visible key (no byte passes through this process; above 5 GiB the copy is multipart). Both
 * steps are safe to repeat, and between them the blob exists twice, never zero times. A GET
 * already answering keeps streaming after the delete (the server keeps the object's data until
 * its own collection runs, hours later on Ceph RGW and AWS).
 */
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { isDigest } from '../../../oci/digest.ts';
import type { Digest, StoredBlob } from '../../blob-store.ts';
import { isNotFound, type S3Connection, toStorageError } from './client.ts';
import type { S3Layout } from './layout.ts';
import { copyObject } from './parts.ts';

/** See the module comment. */
export class S3Lifecycle {
  readonly #s3: S3Connection;
  readonly #layout: S3Layout;

  constructor(s3: S3Connection, layout: S3Layout) {
    this.#s3 = s3;
    this.#layout = layout;
  }

  listBlobs(): AsyncIterable<StoredBlob> {
    return this.#list(this.#layout.blobsRoot());
  }

  async *listQuarantined(): AsyncIterable<Digest> {
    for await (const blob of this.#list(this.#layout.quarantineRoot())) yield blob.digest;
  }

  async quarantineBlob(digest: Digest): Promise<boolean> {
    return this.#move(this.#layout.blob(digest), this.#layout.quarantined(digest), `quarantine ${digest}`);
  }

  async restoreBlob(digest: Digest): Promise<boolean> {
    const visible = this.#layout.blob(digest);
    if ((await this.#size(visible)) !== undefined) {
      await this.purgeBlob(digest); // the same content is visible again (pushed anew): drop the copy
      return true;
    }
    if (await this.#move(this.#layout.quarantined(digest), visible, `restore ${digest}`)) return true;
    return (await this.#size(visible)) !== undefined;
  }

  async purgeBlob(digest: Digest): Promise<void> {
    await this.#delete(this.#layout.quarantined(digest), `purge ${digest}`);
  }

  /** Copy, then delete the source. False when the source does not exist. */
  async #move(from: string, to: string, action: string): Promise<boolean> {
    const size = await this.#size(from);
    if (size === undefined) return false;
    try {
      await copyObject(this.#s3, from, to, size);
    } catch (error) {
      if (isNotFound(error)) return false; // moved or purged by someone else since the HEAD
      throw toStorageError(error, action);
    }
    await this.#delete(from, action);
    return true;
  }

  async #size(key: string): Promise<number | undefined> {
    try {
      const head = await this.#s3.client.send(new HeadObjectCommand({ Bucket: this.#s3.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toStorageError(error, `head ${key}`);
    }
  }

  async #delete(key: string, action: string): Promise<void> {
    try {
      await this.#s3.client.send(new DeleteObjectCommand({ Bucket: this.#s3.bucket, Key: key }));
    } catch (error) {
      if (!isNotFound(error)) throw toStorageError(error, action);
    }
  }

  /** `<root><algorithm>/<hex>` objects, page by page; other keys under the root are skipped. */
  async *#list(root: string): AsyncIterable<StoredBlob> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#s3.client.send(
          new ListObjectsV2Command({ Bucket: this.#s3.bucket, Prefix: root, ContinuationToken: token }),
        );
      } catch (error) {
        throw toStorageError(error, `list ${root}`);
      }
      for (const object of page.Contents ?? []) {
        const digest = object.Key?.slice(root.length).replace('/', ':');
        if (digest === undefined || !isDigest(digest)) continue;
        yield { digest, size: object.Size ?? 0, modifiedAt: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
