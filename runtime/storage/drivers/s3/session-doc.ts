/**
 * The document of an s3 upload session (`uploads/<id>/session.json`, see ./layout.ts), as stored,
 * read and written with its version (ETag), and what the BlobStore interface shows of it. Used by
 * ./uploads.ts only.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { UploadState } from '../../blob-store.ts';
import { StorageError } from '../../errors.ts';
import { isUploadId } from '../../keys.ts';
import { headEtag, httpStatusOf, type S3Connection, toStorageError, unquoteEtag } from './client.ts';
import type { S3Layout } from './layout.ts';
import { getSmallObject } from './objects.ts';
import type { PartRecord } from './parts.ts';

/** The session document, as stored. */
export interface S3SessionDoc {
  readonly version: 1;
  readonly id: string;
  readonly owner: unknown;
  readonly startedAt: string;
  /** ISO time of the latest activity (start, bytes of an append); absent in older documents: `startedAt`. */
  readonly activeAt?: string;
  /** Bytes received: the parts' sizes plus the tail's. */
  readonly offset: number;
  /** The S3 multipart upload on the `data` key, started with the first full part. */
  readonly multipartId: string | null;
  readonly parts: readonly PartRecord[];
  readonly tail: { readonly key: string; readonly size: number } | null;
}

/** The session as the BlobStore interface shows it. */
export function toState(doc: S3SessionDoc): UploadState {
  return { id: doc.id, offset: doc.offset, startedAt: doc.startedAt, owner: doc.owner };
}

/** A session document with the version it was read at. */
export interface LoadedSession {
  readonly doc: S3SessionDoc;
  readonly etag: string | undefined;
}

/** The session's document, or undefined when there is none (or `id` is no upload id). */
export async function loadSession(s3: S3Connection, layout: S3Layout, id: string): Promise<LoadedSession | undefined> {
  if (!isUploadId(id)) return undefined;
  const found = await getSmallObject(s3, layout.session(id));
  return found && { doc: JSON.parse(found.body.toString('utf8')) as S3SessionDoc, etag: found.etag };
}

/**
 * Writes the document only if it is still the version `etag` (If-Match); returns the new
 * version's ETag. Lost to another writer: `STORAGE_UPLOAD_OFFSET`.
 */
export async function saveSession(
  s3: S3Connection,
  layout: S3Layout,
  doc: S3SessionDoc,
  etag: string | undefined,
): Promise<string | undefined> {
  const key = layout.session(doc.id);
  try {
    const written = await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Body: JSON.stringify(doc),
        ContentType: 'application/json',
        IfMatch: etag,
      }),
    );
    return unquoteEtag(written.ETag) ?? (await headEtag(s3, key));
  } catch (error) {
    const status = httpStatusOf(error);
    // A losing conditional write may surface as 500 instead of 412: look at what is there now.
    const lost = status === 412 || (status !== undefined && status >= 500 && (await headEtag(s3, key)) !== etag);
    if (lost) {
      throw new StorageError('STORAGE_UPLOAD_OFFSET', `upload ${doc.id} was appended to concurrently`, {
        cause: error,
      });
    }
    throw toStorageError(error, `save upload ${doc.id}`);
  }
}
