/**
 * `ImageMetadata`: the on-store layout of one repository's images over the BlobStore metadata API.
 * One store is shared by many repositories, so every key lives under `repositories/<repository>/`:
 *
 *   _catalog/<image, '/' as %2F>                          ''  (the image exists: the catalog)
 *   images/<image…>/_tags/<tag>                            the digest the tag points to
 *   images/<image…>/_manifests/<alg>/<hex>                 {"mediaType","size"?,"subject"?}
 *   images/<image…>/_layers/<alg>/<hex>                    ''  (the blob is visible through the image)
 *   images/<image…>/_referrers/<alg>/<hex>/<alg>-<hex>     the referrer's descriptor (artifactType, annotations)
 *   images/<image…>/_cache/tags/<tag>                      proxy: {"digest","mediaType","checkedAt"}
 *   images/<image…>/_cache/negative/<reference>            proxy: {"until"} (an upstream miss, remembered)
 *
 * Digest encoding: ':' is outside the key charset, so a digest becomes two segments `<alg>/<hex>`
 * (a folder per algorithm, as in blobs/), or one segment `<alg>-<hex>` where it names a leaf.
 * Image name components never start with `_` (OCI grammar), so the `_` folders cannot collide
 * with nested image names. This is the same layout `hosted-metadata.ts` writes, so both read
 * each other's records. Manifest bodies are ordinary blobs of the store.
 */
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import type { Descriptor } from './repository.ts';

/** A manifest link: what the digest in its key does not say. */
export interface ManifestRecord {
  readonly mediaType: string;
  readonly size?: number;
  readonly subject?: Digest;
}

/** A proxy's cached tag; `checkedAt` (epoch ms) is the last upstream confirmation. */
export interface CachedTagRecord {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly checkedAt: number;
}

const folderOf = (digest: Digest) => digest.replace(':', '/');
const leafOf = (digest: Digest) => digest.replace(':', '-');

/** Typed access to one repository's records in a store. Holds no state besides the store. */
export class ImageMetadata {
  readonly #store: BlobStore;
  readonly #root: string;

  constructor(store: BlobStore, repository: string) {
    this.#store = store;
    this.#root = `repositories/${repository}`;
  }

  #image(image: string): string {
    return `${this.#root}/images/${image}`;
  }

  #catalog(image: string): string {
    return `${this.#root}/_catalog/${encodeURIComponent(image)}`;
  }

  async #json<T>(key: string): Promise<T | undefined> {
    const raw = await this.#store.getMeta(key);
    return raw === undefined ? undefined : (JSON.parse(raw.toString('utf8')) as T);
  }

  /** Records the image in the catalog; every link and tag write calls it first. */
  async #note(image: string): Promise<void> {
    await this.#store.putMeta(this.#catalog(image), '');
  }

  async getTag(image: string, tag: string): Promise<Digest | undefined> {
    return (await this.#store.getMeta(`${this.#image(image)}/_tags/${tag}`))?.toString('utf8');
  }

  async setTag(image: string, tag: string, digest: Digest): Promise<void> {
    await this.#note(image);
    await this.#store.putMeta(`${this.#image(image)}/_tags/${tag}`, digest);
  }

  deleteTag(image: string, tag: string): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_tags/${tag}`);
  }

  /** Tag names, sorted by byte order. */
  listTags(image: string): Promise<string[]> {
    return this.#store.listMeta(`${this.#image(image)}/_tags`);
  }

  async linkManifest(image: string, digest: Digest, record: ManifestRecord): Promise<void> {
    await this.#note(image);
    await this.#store.putMeta(`${this.#image(image)}/_manifests/${folderOf(digest)}`, JSON.stringify(record));
  }

  getManifest(image: string, digest: Digest): Promise<ManifestRecord | undefined> {
    return this.#json(`${this.#image(image)}/_manifests/${folderOf(digest)}`);
  }

  async hasManifest(image: string, digest: Digest): Promise<boolean> {
    return (await this.getManifest(image, digest)) !== undefined;
  }

  unlinkManifest(image: string, digest: Digest): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_manifests/${folderOf(digest)}`);
  }

  async linkBlob(image: string, digest: Digest): Promise<void> {
    await this.#note(image);
    await this.#store.putMeta(`${this.#image(image)}/_layers/${folderOf(digest)}`, '');
  }

  async hasBlob(image: string, digest: Digest): Promise<boolean> {
    return (await this.#store.getMeta(`${this.#image(image)}/_layers/${folderOf(digest)}`)) !== undefined;
  }

  unlinkBlob(image: string, digest: Digest): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_layers/${folderOf(digest)}`);
  }

  addReferrer(image: string, subject: Digest, referrer: Descriptor): Promise<void> {
    const key = `${this.#image(image)}/_referrers/${folderOf(subject)}/${leafOf(referrer.digest)}`;
    return this.#store.putMeta(key, JSON.stringify(referrer));
  }

  removeReferrer(image: string, subject: Digest, referrer: Digest): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_referrers/${folderOf(subject)}/${leafOf(referrer)}`);
  }

  /** The referrers of `subject`, in referrer-digest order. */
  async listReferrers(image: string, subject: Digest): Promise<Descriptor[]> {
    const folder = `${this.#image(image)}/_referrers/${folderOf(subject)}`;
    const docs = await Promise.all(
      (await this.#store.listMeta(folder)).map((n) => this.#json<Descriptor>(`${folder}/${n}`)),
    );
    return docs.filter((doc): doc is Descriptor => doc !== undefined);
  }

  /** The catalog: every image of the repository, sorted. */
  async listImages(): Promise<string[]> {
    const names = await this.#store.listMeta(`${this.#root}/_catalog`);
    return names.map(decodeURIComponent).sort();
  }

  async hasImage(image: string): Promise<boolean> {
    return (await this.#store.getMeta(this.#catalog(image))) !== undefined;
  }

  /** Removes every record of the image (not the blobs: other images may share them). */
  async deleteImage(image: string): Promise<void> {
    await this.#store.deleteMeta(this.#catalog(image));
    await this.#deleteTree(this.#image(image), true);
  }

  async #deleteTree(prefix: string, top: boolean): Promise<void> {
    for (const name of await this.#store.listMeta(prefix)) {
      // A nested image (`a/b` under `a`) is another image: keep it.
      if (top && !name.startsWith('_')) continue;
      const key = `${prefix}/${name}`;
      await this.#store.deleteMeta(key);
      await this.#deleteTree(key, false);
    }
  }

  getCachedTag(image: string, tag: string): Promise<CachedTagRecord | undefined> {
    return this.#json(`${this.#image(image)}/_cache/tags/${tag}`);
  }

  async setCachedTag(image: string, tag: string, record: CachedTagRecord): Promise<void> {
    await this.#note(image);
    await this.#store.putMeta(`${this.#image(image)}/_cache/tags/${tag}`, JSON.stringify(record));
  }

  /** True while an upstream miss for `reference` (tag or `alg-hex`) is remembered at time `now`. */
  async isNegative(image: string, reference: string, now = Date.now()): Promise<boolean> {
    const record = await this.#json<{ until: number }>(`${this.#image(image)}/_cache/negative/${leafOf(reference)}`);
    return record !== undefined && record.until > now;
  }

  setNegative(image: string, reference: string, until: number): Promise<void> {
    return this.#store.putMeta(`${this.#image(image)}/_cache/negative/${leafOf(reference)}`, JSON.stringify({ until }));
  }

  clearNegative(image: string, reference: string): Promise<void> {
    return this.#store.deleteMeta(`${this.#image(image)}/_cache/negative/${leafOf(reference)}`);
  }
}
