/**
 * Content digests: validation, parsing, and the checks every driver makes before content becomes
 * visible. (Blob bodies are hashed where they are written: file-hash.ts, and in the S3 and memory
 * drivers.)
 *
 * Only the two algorithms OCI registries must accept are supported, in their canonical form
 * (lowercase hex of the exact length), so that a digest is also a safe, unique path or key segment
 * once its `:` is replaced: a digest that passes {@link isDigest} can never name a file outside
 * the store.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../storage/blob-store.ts';
import { StorageError } from '../storage/errors.ts';

/** The digest algorithms a store accepts. */
export type DigestAlgorithm = 'sha256' | 'sha512';

const DIGEST_PATTERN = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

/** A digest split into its parts. */
export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
}

/**
 * True for `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>`, nothing else (no
 * uppercase, no other algorithm): what a client sends is checked with this before it reaches a
 * store or becomes part of a key.
 */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

/**
 * Splits a digest into algorithm and hex. Throws `StorageError('STORAGE_INVALID_KEY')` when
 * {@link isDigest} would say false: callers validate client input first, so reaching the throw
 * is a programming error that must not touch the disk.
 */
export function parseDigest(digest: string): ParsedDigest {
  if (!isDigest(digest)) throw new StorageError('STORAGE_INVALID_KEY', `not a valid digest: ${JSON.stringify(digest)}`);
  const colon = digest.indexOf(':'); // the pattern fixed the algorithm and the hex length
  return { algorithm: digest.slice(0, colon) as DigestAlgorithm, hex: digest.slice(colon + 1) };
}

/** The digest of a small in-memory document (a manifest), with `algorithm` (default sha256). */
export function digestOf(body: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

/** The digest and size of some content, as hashed. */
export interface HashResult {
  readonly digest: Digest;
  readonly size: number;
}

/**
 * The one check before content becomes visible as blob `digest`, in every driver: throws
 * `STORAGE_DIGEST_MISMATCH` when it hashed to something else, `STORAGE_SIZE_MISMATCH` when
 * `expectedSize` is given and differs.
 */
export function verifyContent(digest: Digest, actual: HashResult, expectedSize?: number): void {
  if (actual.digest !== digest) {
    throw new StorageError('STORAGE_DIGEST_MISMATCH', `content hashes to ${actual.digest}, not ${digest}`);
  }
  if (expectedSize !== undefined && expectedSize !== actual.size) {
    throw new StorageError('STORAGE_SIZE_MISMATCH', `expected ${expectedSize} bytes, received ${actual.size}`);
  }
}

/**
 * The check of `putHashedBlob` (blob-store.ts), in every driver: the caller's `hashed` result must
 * name `digest` and cover exactly the `received` bytes the store counted, and `received` must be
 * `expectedSize` when given. Throws `STORAGE_DIGEST_MISMATCH` / `STORAGE_SIZE_MISMATCH`.
 */
export function verifyHashed(digest: Digest, hashed: HashResult, received: number, expectedSize?: number): void {
  verifyContent(digest, { digest: hashed.digest, size: received }, expectedSize);
  if (hashed.size !== received) {
    throw new StorageError(
      'STORAGE_SIZE_MISMATCH',
      `the caller hashed ${hashed.size} bytes, the store received ${received}`,
    );
  }
}
