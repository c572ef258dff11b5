/**
 * Validation of what callers hand a store as names: metadata keys and upload ids. Every driver
 * checks these before touching its backend, so a key can never escape its folder (`..`), hide
 * (`.`), or mean different things to different drivers.
 */
import { StorageError } from '../errors.ts';

/** One key segment: the charset of `encodeURIComponent` output minus what has meaning in paths. */
const SEGMENT = /^[A-Za-z0-9._%-]+$/;

/** Upload ids this project's drivers hand out: 32 lowercase hex (128 random bits). */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

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
