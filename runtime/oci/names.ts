/**
 * Validation of what a client puts in a v2 URL, done before anything touches a repository or a
 * store: repository names (the OCI distribution-spec grammar), tags, digests and references.
 *
 * Names arrive percent-decoded (see {@link decodePathSegment}), so `%2e%2e` is checked as `..`
 * and refused like it: the grammar only allows components that start and end with `[a-z0-9]`.
 */
import { NAME_COMPONENT_SOURCE, TAG_PATTERN } from '../../compiler/plan.ts';
import { isDigest } from './digest.ts';
import { RegistryError } from './errors.ts';

const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT_SOURCE}(?:/${NAME_COMPONENT_SOURCE})*$`);
/** The spec's limit on a whole name, routing prefix included. */
export const MAX_NAME_LENGTH = 255;

/** True when `name` is a valid repository name (no leading slash, no `..`, lower case, ≤ 255). */
export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

/** Throws `NAME_INVALID` naming the offending value and the grammar. */
export function assertValidName(name: string): void {
  if (isValidName(name)) return;
  throw new RegistryError('NAME_INVALID', {
    message:
      name.length > MAX_NAME_LENGTH
        ? `invalid repository name: longer than ${MAX_NAME_LENGTH} characters`
        : 'invalid repository name: components must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)* separated by "/"',
    detail: { name: name.slice(0, MAX_NAME_LENGTH + 1) },
  });
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

/** A digest a store accepts: `sha256:<64 hex>` or `sha512:<128 hex>`, lower case (storage/digest.ts). */
export function isValidDigest(digest: string): boolean {
  return isDigest(digest);
}

/** Throws `DIGEST_INVALID` unless `digest` is a supported digest. */
export function assertValidDigest(digest: string | undefined): asserts digest is string {
  if (digest !== undefined && isValidDigest(digest)) return;
  throw new RegistryError('DIGEST_INVALID', {
    message: digest ? 'invalid digest: expected sha256:<64 hex> or sha512:<128 hex>' : 'a digest is required',
    detail: { digest: digest?.slice(0, 200) ?? null },
  });
}

/** A manifest reference is a digest (when it contains `:`) or a tag. */
export type Reference =
  | { readonly kind: 'digest'; readonly value: string }
  | { readonly kind: 'tag'; readonly value: string };

/**
 * Parses a manifest reference: `DIGEST_INVALID` for a malformed digest, `MANIFEST_INVALID` (400) for a
 * malformed tag (the OCI table has no tag code; distribution's `TAG_INVALID` is not in ours).
 */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    assertValidDigest(reference);
    return { kind: 'digest', value: reference };
  }
  if (!isValidTag(reference)) {
    throw new RegistryError('MANIFEST_INVALID', {
      status: 400,
      message: 'invalid tag: expected [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}',
      detail: { tag: reference.slice(0, 200) },
    });
  }
  return { kind: 'tag', value: reference };
}

/**
 * Percent-decodes a raw URL path. A malformed escape or a NUL byte is a `NAME_INVALID`; whatever
 * the decoded text says (`..`, upper case, an encoded slash) is validated afterwards, never trusted.
 */
export function decodePath(raw: string): string {
  if (!raw.includes('%')) return raw;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new RegistryError('NAME_INVALID', { message: 'invalid percent-encoding in the URL path' });
  }
  if (decoded.includes('\0')) throw new RegistryError('NAME_INVALID', { message: 'invalid character in the URL path' });
  return decoded;
}
