/**
 * The manifest media types a hosted repository stores, and how the media type of a pushed manifest
 * is decided.
 *
 * Four formats are accepted: the OCI image manifest and index, and Docker's schema 2 manifest and
 * manifest list. Artifacts (Helm charts, signatures, SBOMs …) are OCI image manifests with an
 * `artifactType` or a custom config media type, so they need no format of their own. Docker
 * schema 1 is refused: it is signed over a re-serialised body, cannot carry multi-arch or
 * referrers, and every current client can convert it away.
 */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Docker schema 1, refused with a message that says how to convert. */
export const DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** Layers that may live elsewhere (`urls`): the registry does not hold them, so never checks them. */
export const FOREIGN_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** The shape a manifest media type implies: a single image (config + layers) or a list of manifests. */
export type ManifestKind = 'image' | 'index';

/** The accepted manifest media types and their shape. */
export const MANIFEST_MEDIA_TYPES: Readonly<Record<string, ManifestKind>> = {
  [OCI_MANIFEST]: 'image',
  [OCI_INDEX]: 'index',
  [DOCKER_MANIFEST]: 'image',
  [DOCKER_MANIFEST_LIST]: 'index',
};

/** Every accepted media type, for messages and `Accept` defaults. */
export const SUPPORTED_MANIFEST_MEDIA_TYPES: readonly string[] = Object.keys(MANIFEST_MEDIA_TYPES);

/**
 * Content types a client sends when it does not say what the body is (curl's default, a generic
 * JSON client): they carry no information, so the body's own `mediaType` decides.
 */
const GENERIC_CONTENT_TYPES: ReadonlySet<string> = new Set([
  '',
  'application/json',
  'application/octet-stream',
  'text/plain',
  'application/x-www-form-urlencoded',
]);

/** The bare media type of a Content-Type header value: parameters dropped, trimmed, lower case. */
export function normalizeMediaType(value: string | undefined): string {
  if (value === undefined) return '';
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

/** True for the schema 1 media types. */
export function isSchema1MediaType(mediaType: string): boolean {
  return mediaType === DOCKER_SCHEMA1 || mediaType === DOCKER_SCHEMA1_SIGNED;
}

/** True for a Content-Type that names nothing in particular (see {@link GENERIC_CONTENT_TYPES}). */
export function isGenericContentType(mediaType: string): boolean {
  return GENERIC_CONTENT_TYPES.has(mediaType);
}

/** The shape of an accepted manifest media type, or undefined when it is not one. */
export function manifestKindOf(mediaType: string): ManifestKind | undefined {
  return Object.hasOwn(MANIFEST_MEDIA_TYPES, mediaType) ? MANIFEST_MEDIA_TYPES[mediaType] : undefined;
}

/**
 * A loose check of the RFC 6838 `type/subtype` grammar, enough to refuse garbage in descriptors
 * and `artifactType` without refusing the vendor types artifacts invent.
 */
export function isMediaTypeShaped(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 255 && /^[A-Za-z0-9][\w!#$&^.+-]*\/[\w!#$&^.+-]+$/.test(value);
}
