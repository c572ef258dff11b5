/**
 * The air-gap bundle of `regctl export` / `regctl import`: an OCI image layout (image-spec
 * `image-layout.md`) as one tar, plus regctl's own listing of it. Any OCI tool reads it
 * (`skopeo copy oci-archive:bundle.tar:NAME …`, `umoci ls --layout` on the unpacked folder);
 * `regctl import` reads it as a stream, in one pass, because the entries come in this order:
 *
 * ```
 * oci-layout               {"imageLayoutVersion":"1.0.0"}
 * regctl-bundle.json       the listing ({@link BundleListing}): every image, manifest and blob,
 *                          with sizes, media types and the repository names that use it
 * index.json               the layout's index: one entry per image, its name in the annotation
 *                          org.opencontainers.image.ref.name (`name:tag` or `name@digest`), and
 *                          one entry per referrer (no name)
 * blobs/sha256/<hex>…      configs and layers, each once, in the listing's order
 * blobs/sha256/<hex>…      manifests, each once, children before the index that lists them and a
 *                          subject before its referrers (the order a registry accepts pushes in)
 * ```
 *
 * The listing comes first so an importer knows before the first blob what each one is, where it
 * goes and how large it is; blobs come before manifests so a bundle cut short or corrupt is found
 * before anything names its content (manifests and tags are pushed only after every blob checked).
 */
import { isDigest, parseDigest } from '../runtime/oci/digest.ts';
import { isValidName, isValidTag } from '../runtime/oci/names.ts';

/** The listing's entry name in the tar. */
export const LISTING_ENTRY = 'regctl-bundle.json';
export const LAYOUT_ENTRY = 'oci-layout';
export const INDEX_ENTRY = 'index.json';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const LAYOUT_VERSION = '1.0.0';
/** The listing's format version: an importer refuses a bundle of a version it does not know. */
export const BUNDLE_VERSION = 1;
/** Upper bound of the listing and index.json read into memory. */
export const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/** One image of the bundle, as exported. */
export interface BundleImage {
  /** As index.json names it: `name:tag`, or `name@digest` for an image exported by digest. */
  readonly ref: string;
  readonly name: string;
  /** The tag it is pushed under on import, or null (by digest only). */
  readonly tag: string | null;
  /** The digest of its top manifest in the bundle (the filtered index when --platform dropped entries). */
  readonly digest: string;
  readonly mediaType: string;
  /** Bytes of its distinct manifests and blobs (referrers not included). */
  readonly size: number;
  /** `os/arch[/variant]` of each image in it (one for a single-platform image, when its config says). */
  readonly platforms: readonly string[];
  /** The digest the registry serves for it, when the bundle holds a filtered index instead. */
  readonly servedDigest?: string;
  /** Digests of the referrers carried with it (signatures, SBOMs, …). */
  readonly referrers: readonly string[];
}

/** A manifest of the bundle and the repository names it is pushed to, by digest. */
export interface BundleManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly names: readonly string[];
}

/** A blob (config or layer) of the bundle and the repository names that need it. */
export interface BundleBlob {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly names: readonly string[];
}

/** `regctl-bundle.json`. */
export interface BundleListing {
  readonly bundleVersion: typeof BUNDLE_VERSION;
  readonly createdAt: string;
  /** The registry exported from (no credentials in it). */
  readonly source: string;
  /** The --platform filter, or null when indexes were kept whole. */
  readonly platforms: readonly string[] | null;
  readonly images: readonly BundleImage[];
  /** In push order: children before parents, subjects before referrers. */
  readonly manifests: readonly BundleManifest[];
  /** In the tar's order. */
  readonly blobs: readonly BundleBlob[];
}

/** The tar entry name of a blob: `blobs/<algorithm>/<hex>`. */
export function blobEntryName(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** The digest of a `blobs/<algorithm>/<hex>` entry name (a leading `./` allowed), or undefined. */
export function digestOfEntry(name: string): string | undefined {
  const match = /^(?:\.\/)?blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
  if (match === null) return undefined;
  const digest = `${match[1]}:${match[2]}`;
  return isDigest(digest) ? digest : undefined;
}

/** The ref name of an image: `name:tag`, or `name@digest`. */
export function refName(name: string, tag: string | null, digest: string): string {
  return tag === null ? `${name}@${digest}` : `${name}:${tag}`;
}

/** The OCI layout's `index.json` for a listing. */
export function layoutIndex(listing: BundleListing): Buffer {
  const images = listing.images.map((image) => ({
    mediaType: image.mediaType,
    digest: image.digest,
    size: listing.manifests.find((m) => m.digest === image.digest)?.size ?? 0,
    annotations: { [REF_NAME_ANNOTATION]: image.ref },
  }));
  const named = new Set(listing.images.map((i) => i.digest));
  const referrers = listing.images
    .flatMap((image) => image.referrers)
    .filter((digest, i, all) => all.indexOf(digest) === i && !named.has(digest))
    .map((digest) => {
      const manifest = listing.manifests.find((m) => m.digest === digest);
      return { mediaType: manifest?.mediaType, digest, size: manifest?.size ?? 0 };
    });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [...images, ...referrers],
    }),
  );
}

/** Why the listing cannot be imported (a bundle not written by `regctl export`, or damaged), or undefined. */
export function listingProblem(value: unknown): string | undefined {
  const listing = value as Partial<BundleListing> | null;
  if (typeof listing !== 'object' || listing === null) return 'it is not a JSON object';
  if (listing.bundleVersion !== BUNDLE_VERSION)
    return `bundleVersion ${JSON.stringify(listing.bundleVersion)} is not ${BUNDLE_VERSION}: made by another regctl version`;
  if (!Array.isArray(listing.images) || !Array.isArray(listing.manifests) || !Array.isArray(listing.blobs))
    return 'images, manifests and blobs must be arrays';
  const names = (entry: { names?: unknown }) =>
    Array.isArray(entry.names) && entry.names.length > 0 && entry.names.every((n) => isValidName(String(n)));
  for (const [i, entry] of [...listing.manifests, ...listing.blobs].entries()) {
    if (!isDigest(entry?.digest) || !Number.isSafeInteger(entry.size) || entry.size < 0 || !names(entry))
      return `entry ${i} of manifests and blobs has no valid digest, size or repository names`;
  }
  const manifests = new Set(listing.manifests.map((m) => m.digest));
  for (const image of listing.images) {
    if (!isValidName(String(image?.name)) || !manifests.has(image.digest))
      return `image ${JSON.stringify(image?.ref)} has no valid name or no manifest in the bundle`;
    if (image.tag !== null && !isValidTag(String(image.tag))) return `image ${image.ref} has an invalid tag`;
  }
  return undefined;
}

/** The bundle is not one `regctl import` can load, or its content is not what it says. */
export class BundleError extends Error {
  constructor(bundle: string, message: string) {
    super(`${bundle}: ${message}`);
    this.name = 'BundleError';
  }
}
