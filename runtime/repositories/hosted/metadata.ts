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
 *   repositories/<repo>/images/<image…>/_manifests/<alg>/<hex>  {"mediaType":…,"subject"?:…,"linkedAt"?:…}
 *   repositories/<repo>/images/<image…>/_layers/<alg>/<hex>     epoch ms of the link ('' before GC existed)
 *   repositories/<repo>/images/<image…>/_referrers/<alg>/<hex>/<alg>-<hex>   the referrer's descriptor
 *   repositories/<repo>/images/<image…>/_pulled/<alg>/<hex>     epoch ms of the last pull of a manifest
 *                                                                (batched, coarse: see pull-times.ts)
 *
 * The link times let garbage collection (runtime/gc/) tell a young link, which a push in progress
 * may still need, from an old one.
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
  /** Epoch ms of the push that linked it (absent in links written before garbage collection existed). */
  readonly linkedAt?: number;
}

/** A digest linked in an image, with the link's time when recorded. */
export interface LinkEntry {
  readonly digest: Digest;
  readonly linkedAt?: number;
}

/** The metadata keys of one hosted repository (see the module comment); no I/O. */
export function hostedKeys(repository: string) {
  const root = `repositories/${repository}`;
  const image = (name: string) => `${root}/images/${name}`;
  return {
    root,
    catalog: `${root}/_catalog`,
    catalogEntry: (name: string) => `${root}/_catalog/${name.replaceAll('/', '%2F')}`,
    tags: (name: string) => `${image(name)}/_tags`,
    tag: (name: string, tag: string) => `${image(name)}/_tags/${tag}`,
    manifests: (name: string) => `${image(name)}/_manifests`,
    manifest: (name: string, digest: Digest) => `${image(name)}/_manifests/${digestKey(digest)}`,
    layers: (name: string) => `${image(name)}/_layers`,
    layer: (name: string, digest: Digest) => `${image(name)}/_layers/${digestKey(digest)}`,
    referrers: (name: string, subject: Digest) => `${image(name)}/_referrers/${digestKey(subject)}`,
    referrer: (name: string, subject: Digest, referrer: Digest) =>
      `${image(name)}/_referrers/${digestKey(subject)}/${referrer.replace(':', '-')}`,
    pulled: (name: string, digest: Digest) => `${image(name)}/_pulled/${digestKey(digest)}`,
  };
}

/** The digests under a `<folder>/<alg>/<hex>` tree of documents, with each document's bytes. */
export async function listDigestDocs(store: BlobStore, folder: string): Promise<{ digest: Digest; doc: Buffer }[]> {
  const out: { digest: Digest; doc: Buffer }[] = [];
  for (const algorithm of await store.listMeta(folder)) {
    const hexes = await store.listMeta(`${folder}/${algorithm}`);
    const docs = await Promise.all(hexes.map((hex) => store.getMeta(`${folder}/${algorithm}/${hex}`)));
    hexes.forEach((hex, i) => {
      const doc = docs[i];
      if (doc !== undefined) out.push({ digest: `${algorithm}:${hex}`, doc });
    });
  }
  return out;
}

/** A layer link's time: its document is the epoch ms (links written before GC are ''). */
export function linkTime(doc: Buffer): number | undefined {
  const value = Number(doc.toString('utf8'));
  return doc.length > 0 && Number.isFinite(value) ? value : undefined;
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
  /** Every manifest linked in `image`, with its link. */
  listManifestLinks(image: string): Promise<(LinkEntry & { link: ManifestLink })[]>;
  /** Every blob linked in `image`. */
  listBlobLinks(image: string): Promise<LinkEntry[]>;
  hasImage(image: string): Promise<boolean>;
}

/** `sha256:abc` → `sha256/abc`: a colon is not a valid key character. */
function digestKey(digest: Digest): string {
  return digest.replace(':', '/');
}

/** Opens the metadata of repository `repository` in `store` (no I/O). */
export function openHostedMetadata(store: BlobStore, repository: string, now: () => number = Date.now): HostedMetadata {
  const keys = hostedKeys(repository);
  const noteImage = (image: string) => store.putMeta(keys.catalogEntry(image), '');

  return {
    async isBlobLinked(image, digest) {
      return (await store.getMeta(keys.layer(image, digest))) !== undefined;
    },
    async linkBlob(image, digest) {
      await noteImage(image);
      await store.putMeta(keys.layer(image, digest), String(now()));
    },
    unlinkBlob: (image, digest) => store.deleteMeta(keys.layer(image, digest)),
    async getManifestLink(image, digest) {
      const raw = await store.getMeta(keys.manifest(image, digest));
      return raw === undefined ? undefined : (JSON.parse(raw.toString('utf8')) as ManifestLink);
    },
    async linkManifest(image, digest, link) {
      await noteImage(image);
      await store.putMeta(keys.manifest(image, digest), JSON.stringify({ ...link, linkedAt: now() }));
    },
    unlinkManifest: (image, digest) => store.deleteMeta(keys.manifest(image, digest)),
    async getTag(image, tag) {
      const raw = await store.getMeta(keys.tag(image, tag));
      return raw?.toString('utf8');
    },
    async setTag(image, tag, digest) {
      await noteImage(image);
      await store.putMeta(keys.tag(image, tag), digest);
    },
    deleteTag: (image, tag) => store.deleteMeta(keys.tag(image, tag)),
    listTags: (image) => store.listMeta(keys.tags(image)),
    addReferrer: (image, subject, referrer) =>
      store.putMeta(keys.referrer(image, subject, referrer.digest), JSON.stringify(referrer)),
    removeReferrer: (image, subject, referrer) => store.deleteMeta(keys.referrer(image, subject, referrer)),
    async listReferrers(image, subject) {
      const folder = keys.referrers(image, subject);
      const names = await store.listMeta(folder);
      const docs = await Promise.all(names.map((name) => store.getMeta(`${folder}/${name}`)));
      return docs.flatMap((doc) => (doc === undefined ? [] : [JSON.parse(doc.toString('utf8')) as Descriptor]));
    },
    async listImages() {
      const names = await store.listMeta(keys.catalog);
      return names.map((name) => name.replaceAll('%2F', '/'));
    },
    async hasImage(image) {
      return (await store.getMeta(keys.catalogEntry(image))) !== undefined;
    },
    async listManifestLinks(image) {
      const docs = await listDigestDocs(store, keys.manifests(image));
      return docs.flatMap(({ digest, doc }) => {
        try {
          const link = JSON.parse(doc.toString('utf8')) as ManifestLink;
          return [{ digest, link, ...(typeof link.linkedAt === 'number' ? { linkedAt: link.linkedAt } : {}) }];
        } catch {
          return [{ digest, link: { mediaType: '' } }]; // torn: still a link, so still a reference
        }
      });
    },
    async listBlobLinks(image) {
      const docs = await listDigestDocs(store, keys.layers(image));
      return docs.map(({ digest, doc }) => {
        const linkedAt = linkTime(doc);
        return linkedAt === undefined ? { digest } : { digest, linkedAt };
      });
    },
  };
}
