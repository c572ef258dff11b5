/**
 * The document of an s3 upload session (`uploads/<id>/session.json`, see ./layout.ts), as stored,
 * and what the BlobStore interface shows of it. Written by ./uploads.ts only.
 */
import type { UploadState } from '../../blob-store.ts';
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
