/**
 * The on-disk layout of a filesystem blob store (`driver: 'file'`):
 *
 *   <root>/
 *   ├── blobs/                         content, addressed by digest; immutable once present
 *   │   ├── sha256/ab/ab12…ef          <algorithm>/<first 2 hex>/<all hex>  (fan-out keeps folders small)
 *   │   └── sha512/0f/0f9c…41
 *   ├── uploads/                       upload sessions; survive a restart
 *   │   └── <id>/                      32 lowercase hex (128 random bits)
 *   │       ├── data                   the bytes received; anything past state.offset is crash debris
 *   │       └── state.json             {"id","offset","startedAt","owner"}; replaced atomically
 *   ├── meta/                          metadata documents: one file per key, key segments = folders
 *   │   └── repositories/private/…     e.g. the document of key `repositories/private/…`
 *   ├── gc/quarantine/sha256/ab/ab12…  blobs garbage collection took out of sight, until purged or
 *   │                                  restored (docs/gc.md); same fan-out as blobs/
 *   └── tmp/                           files being written; renamed into blobs/ or meta/ when done;
 *                                      also `lock-<sha1 of key>`, held for the instant of a putMetaIf
 *
 * Why it is safe: everything is written under `tmp/` (or an upload's own `data`) and moved into
 * `blobs/` or `meta/` with one `rename`, which is atomic on one filesystem (hence `tmp/` inside
 * the root, never the OS temp dir). A crash therefore leaves debris only in `tmp/` and `uploads/`,
 * which the sweep removes; nothing half-written is ever visible under `blobs/` or `meta/`.
 *
 * Names reach the disk only through this module, after validation: digests by `parseDigest`
 * (fixed charset and length), keys by `parseMetaKey` (`[A-Za-z0-9._%-]+` segments, never `.` or
 * `..`), upload ids by `checkUploadId`. So no caller input can name a path outside the root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseDigest } from '../../../oci/digest.ts';
import type { Digest } from '../../blob-store.ts';
import { checkUploadId, parseMetaKey } from '../../keys.ts';

/** The folders and files of one store root. Pure: no I/O. */
export class FileStorePaths {
  readonly root: string;
  readonly blobs: string;
  readonly uploads: string;
  readonly meta: string;
  readonly tmp: string;
  readonly quarantine: string;

  constructor(root: string) {
    this.root = root;
    this.blobs = join(root, 'blobs');
    this.uploads = join(root, 'uploads');
    this.meta = join(root, 'meta');
    this.tmp = join(root, 'tmp');
    this.quarantine = join(root, 'gc', 'quarantine');
  }

  /** Where a quarantined blob is kept. Throws `STORAGE_INVALID_KEY` for a malformed digest. */
  quarantined(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.quarantine, algorithm, hex.slice(0, 2), hex);
  }

  /** The lock file of a compare-and-swap on metadata `key` (validated by the caller's metaFile). */
  lock(key: string): string {
    return join(this.tmp, `lock-${createHash('sha1').update(key).digest('hex')}`);
  }

  /** Where a blob's content lives. Throws `STORAGE_INVALID_KEY` for a malformed digest. */
  blob(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobs, algorithm, hex.slice(0, 2), hex);
  }

  /** The folder of an upload session. Throws `STORAGE_UPLOAD_UNKNOWN` for an id we never issue. */
  upload(id: string): { dir: string; data: string; state: string } {
    const dir = join(this.uploads, checkUploadId(id));
    return { dir, data: join(dir, 'data'), state: join(dir, 'state.json') };
  }

  /** The file of a metadata document. Throws `STORAGE_INVALID_KEY`. */
  metaFile(key: string): string {
    return join(this.meta, ...parseMetaKey(key));
  }

  /** The folder listed by `listMeta(prefix)` ('' = the meta root). Throws `STORAGE_INVALID_KEY`. */
  metaDir(prefix: string): string {
    return join(this.meta, ...parseMetaKey(prefix, true));
  }

  /** A fresh temp file name under `tmp/`; `purpose` only helps a human reading the folder. */
  temp(purpose: 'blob' | 'meta' | 'state'): string {
    return join(this.tmp, `${purpose}-${Date.now()}-${randomBytes(8).toString('hex')}`);
  }
}
