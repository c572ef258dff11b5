/**
 * The image metadata a hosted repository reads and writes (tags, manifest and layer links,
 * referrers, the catalog), as one small interface so that the repository logic does not depend on
 * how the store lays it out.
 *
 * {@link openHostedMetadata} lays it out over the BlobStore metadata API, all keys under
 * `repositories/<repository>/`:
 *
 *   repositories/<repo>/_catalog/<image with / as %2F>        '' (the image exists)
 *   repositories/<repo>/images/<image…>/_tags/<tag>            the digest the tag points to
 *   repositories/<repo>/images/<image…>/_manifests/<alg>/<hex>  {"mediaType":…,"subject"?:…}
 *   repositories/<repo>/images/<image…>/_layers/<alg>/<hex>     '' (the blob is linked in the image)
 *   repositories/<repo>/images/<image…>/_referrers/<alg>/<hex>/<alg>-<hex>   the referrer's descriptor
 *
 * Image name components never start with `_` (OCI name grammar), so the `_` folders cannot collide
 * with a nested image name. Every write is one idempotent document put, so a crash between two
 * writes leaves at worst an extra link, never a dangling tag (the caller orders its writes).
 */
import type { BlobStore, Digest } from '../../storage/blob-store.ts';
import type { Descriptor } from '../repository.ts';

/** What a manifest link records besides the digest in its key. */
export interface ManifestLink {
  /** The media type the manifest was pushed as (its body may not say: umoci omits it). */
  readonly mediaType: string;
  /** The digest of its `subject`, so a delete can drop the referrer entry without reparsing. */
  readonly subject?: Digest;
}

/** Tags, links, referrers and the catalog of one repository. See the module comment. */
export interface HostedMetadata {
  isBlobLinked(image: string, digest: Digest): Promise<boolean>;
  linkBlob(image: string, digest: Digest): Promise<void>;
  unlinkBlob(image: string, digest: Digest): Promise<void>;
  getManifestLink(image: string, digest: Digest): Promise<ManifestLink | undefined>;
  linkManifest(image: string, digest: Digest, link: ManifestLink): Promise<void>;
  unlinkManifest(image: string, digest: Digest): Promise<void>;
  getTag(image: string, tag: string): Promise<Digest | undefined>;
  setTag(image: string, tag: string, digest: Digest): Promise<void>;
  deleteTag(image: string, tag: string): Promise<void>;
  /** Tag names in the store's order (byte order); the repository sorts for clients. */
  listTags(image: string): Promise<string[]>;
  addReferrer(image: string, subject: Digest, referrer: Descriptor): Promise<void>;
  removeReferrer(image: string, subject: Digest, referrer: Digest): Promise<void>;
  listReferrers(image: string, subject: Digest): Promise<Descriptor[]>;
  /** Every image that ever had something linked. */
  listImages(): Promise<string[]>;
  hasImage(image: string): Promise<boolean>;
}

/** `sha256:abc` → `sha256/abc`: a colon is not a valid key character. */
function digestKey(digest: Digest): string {
  return digest.replace(':', '/');
}

/** Opens the metadata of repository `repository` in `store` (no I/O). */
export function openHostedMetadata(store: BlobStore, repository: string): HostedMetadata {
  const root = `repositories/${repository}`;
  const imageRoot = (image: string) => `${root}/images/${image}`;
  const catalogKey = (image: string) => `${root}/_catalog/${image.replaceAll('/', '%2F')}`;
  const noteImage = (image: string) => store.putMeta(catalogKey(image), '');

  return {
    async isBlobLinked(image, digest) {
      return (await store.getMeta(`${imageRoot(image)}/_layers/${digestKey(digest)}`)) !== undefined;
    },
    async linkBlob(image, digest) {
      await noteImage(image);
      await store.putMeta(`${imageRoot(image)}/_layers/${digestKey(digest)}`, '');
    },
    unlinkBlob: (image, digest) => store.deleteMeta(`${imageRoot(image)}/_layers/${digestKey(digest)}`),
    async getManifestLink(image, digest) {
      const raw = await store.getMeta(`${imageRoot(image)}/_manifests/${digestKey(digest)}`);
      return raw === undefined ? undefined : (JSON.parse(raw.toString('utf8')) as ManifestLink);
    },
    async linkManifest(image, digest, link) {
      await noteImage(image);
      await store.putMeta(`${imageRoot(image)}/_manifests/${digestKey(digest)}`, JSON.stringify(link));
    },
    unlinkManifest: (image, digest) => store.deleteMeta(`${imageRoot(image)}/_manifests/${digestKey(digest)}`),
    async getTag(image, tag) {
      const raw = await store.getMeta(`${imageRoot(image)}/_tags/${tag}`);
      return raw?.toString('utf8');
    },
    async setTag(image, tag, digest) {
      await noteImage(image);
      await store.putMeta(`${imageRoot(image)}/_tags/${tag}`, digest);
    },
    deleteTag: (image, tag) => store.deleteMeta(`${imageRoot(image)}/_tags/${tag}`),
    listTags: (image) => store.listMeta(`${imageRoot(image)}/_tags`),
    addReferrer: (image, subject, referrer) =>
      store.putMeta(
        `${imageRoot(image)}/_referrers/${digestKey(subject)}/${referrer.digest.replace(':', '-')}`,
        JSON.stringify(referrer),
      ),
    removeReferrer: (image, subject, referrer) =>
      store.deleteMeta(`${imageRoot(image)}/_referrers/${digestKey(subject)}/${referrer.replace(':', '-')}`),
    async listReferrers(image, subject) {
      const folder = `${imageRoot(image)}/_referrers/${digestKey(subject)}`;
      const names = await store.listMeta(folder);
      const docs = await Promise.all(names.map((name) => store.getMeta(`${folder}/${name}`)));
      return docs.flatMap((doc) => (doc === undefined ? [] : [JSON.parse(doc.toString('utf8')) as Descriptor]));
    },
    async listImages() {
      const names = await store.listMeta(`${root}/_catalog`);
      return names.map((name) => name.replaceAll('%2F', '/'));
    },
    async hasImage(image) {
      return (await store.getMeta(catalogKey(image))) !== undefined;
    },
  };
}
