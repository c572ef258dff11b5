/**
 * Validation of what callers hand a store as names: metadata keys and upload ids. Every driver
 * checks these before touching its backend, so a key can never escape its folder (`..`), hide
 * (`.`), or mean different things to different drivers.
 */
import { randomBytes } from 'node:crypto';
import { StorageError } from './errors.ts';

/** One key segment: the charset of `encodeURIComponent` output minus what has meaning in paths. */
const SEGMENT = /^[A-Za-z0-9._%-]+$/;

/**
 * Upload ids: what {@link newUploadId} hands out (32 lowercase hex, 128 random bits), and the
 * 22-character base64url ids the S3 driver issued before, so sessions begun then stay valid.
 * Either way only `[A-Za-z0-9_-]`: safe as a folder name and as an S3 key segment.
 */
const UPLOAD_ID = /^(?:[0-9a-f]{32}|[A-Za-z0-9_-]{22})$/;

/** True when `segment` may be one `/`-separated part of a metadata key. */
export function isKeySegment(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== '.' && segment !== '..';
}

/**
 * Checks a metadata key (`a/b/c`: no leading, trailing or double slash; every segment
 * {@link isKeySegment}) and returns its segments. Throws `STORAGE_INVALID_KEY`.
 * With `allowRoot`, '' is accepted (the root of `listMeta`) and yields no segments.
 */
export function parseMetaKey(key: string, allowRoot = false): string[] {
  if (key === '' && allowRoot) return [];
  const segments = key.split('/');
  for (const segment of segments) {
    if (!isKeySegment(segment)) {
      throw new StorageError('STORAGE_INVALID_KEY', `invalid metadata key ${JSON.stringify(key)}`);
    }
  }
  return segments;
}

/** True for an id of the form the drivers generate; anything else is an unknown upload. */
export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

/** `id` when {@link isUploadId}, else `STORAGE_UPLOAD_UNKNOWN` (nothing malformed reaches a backend). */
export function checkUploadId(id: string): string {
  if (!isUploadId(id)) throw new StorageError('STORAGE_UPLOAD_UNKNOWN', `upload ${JSON.stringify(id)} is unknown`);
  return id;
}

/** A new upload session id (every driver's). */
export function newUploadId(): string {
  return randomBytes(16).toString('hex');
}
