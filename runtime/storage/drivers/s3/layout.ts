/**
 * Where the s3 blob store keeps things inside its bucket. Every key starts with the plan's
 * `prefix` (omitted when ''), so several stores (or several registries) can share one bucket:
 *
 * ```
 * <prefix>/
 *   blobs/sha256/<64 hex>            a verified blob, immutable, at its content address
 *   blobs/sha512/<128 hex>
 *   uploads/<id>/session.json        upload session state (JSON, see S3SessionDoc in session-doc.ts), written with If-Match
 *   uploads/<id>/data                target of the session's S3 multipart upload (invisible until completed)
 *   uploads/<id>/tail-<offset>-<n>   bytes received after the last full part (< partSize), ending at <offset>
 *   meta/<key>                       metadata documents (tags, links, …), one small object each
 *   gc/quarantine/sha256/<64 hex>    blobs garbage collection took out of sight (docs/gc.md)
 * ```
 *
 * Nothing outside `blobs/` is ever read as a blob, and nothing reaches `blobs/` unverified.
 */

import { parseDigest } from '../../../oci/digest.ts';
import { StorageError } from '../../errors.ts';
import { checkUploadId, isUploadId } from '../../keys.ts';

const SEGMENT = /^[A-Za-z0-9._%-]+$/;

/** Key builder for one store's prefix. */
export class S3Layout {
  readonly #root: string;

  /** `prefix` is '' or a key prefix without leading or trailing slash. */
  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.#root = trimmed === '' ? '' : `${trimmed}/`;
  }

  /** `<prefix>/blobs/<algorithm>/<hex>`; throws STORAGE_INVALID_KEY for anything but a digest (../digest.ts). */
  blob(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return `${this.#root}blobs/${algorithm}/${hex}`;
  }

  /** The folder of all visible blobs, with trailing slash (for listing). */
  blobsRoot(): string {
    return `${this.#root}blobs/`;
  }

  /** Where a quarantined blob is kept; throws STORAGE_INVALID_KEY for anything but a digest. */
  quarantined(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return `${this.#root}gc/quarantine/${algorithm}/${hex}`;
  }

  /** The folder of quarantined blobs, with trailing slash (for listing). */
  quarantineRoot(): string {
    return `${this.#root}gc/quarantine/`;
  }

  /** The folder of all upload sessions, with trailing slash (for listing). */
  uploadsRoot(): string {
    return `${this.#root}uploads/`;
  }

  session(id: string): string {
    return `${this.#root}uploads/${checkUploadId(id)}/session.json`;
  }

  data(id: string): string {
    return `${this.#root}uploads/${checkUploadId(id)}/data`;
  }

  /** The session id whose `data` key `key` is, or undefined for any other key. */
  sessionOfData(key: string): string | undefined {
    const prefix = this.uploadsRoot();
    if (!key.startsWith(prefix) || !key.endsWith('/data')) return undefined;
    const id = key.slice(prefix.length, -'/data'.length);
    return isUploadId(id) ? id : undefined;
  }

  /** Unique per write (`nonce`), so a racing append can never overwrite the tail another recorded. */
  tail(id: string, endOffset: number, nonce: string): string {
    return `${this.#root}uploads/${checkUploadId(id)}/tail-${endOffset}-${nonce}`;
  }

  /** `<prefix>/meta/<key>`; throws STORAGE_INVALID_KEY for a malformed key. */
  meta(key: string): string {
    return `${this.#root}meta/${checkMetaKey(key, false)}`;
  }

  /** The listing prefix for the children of `prefix` ('' = root), with trailing slash. */
  metaFolder(prefix: string): string {
    const checked = checkMetaKey(prefix, true);
    return checked === '' ? `${this.#root}meta/` : `${this.#root}meta/${checked}/`;
  }

  /** The key prefix this store owns, to scope multipart-upload listings ('' = whole bucket). */
  root(): string {
    return this.#root;
  }
}

function checkMetaKey(key: string, allowEmpty: boolean): string {
  if (key === '' && allowEmpty) return key;
  const segments = key.split('/');
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new StorageError('STORAGE_INVALID_KEY', `invalid metadata key: ${JSON.stringify(key)}`);
    }
  }
  return key;
}
