/**
 * The store a garbage-collection benchmark collects (issue #17 item 7), as a pure description:
 * every blob's bytes and digest, every image, tag and manifest, what is garbage, and where each
 * registry keeps it. bench/gc.ts writes it into regctl's stores (through the BlobStore and hosted
 * metadata APIs) and into distribution's layout (filesystem or S3), so both collect the same store.
 *
 * Shape, for `manifests` = M (a multiple of 16):
 * - manifest i is an OCI image manifest naming its own config, two layers of its own and one base
 *   layer shared by four consecutive manifests (4i..4i+3); images hold `tagsPerImage` manifests,
 *   tagged `v<n>`;
 * - one manifest in eight is garbage: i ≡ 3 (mod 16) is untagged (still linked, no tag), i ≡ 11
 *   (mod 16) deleted (its manifest link gone, its layer links left, as a delete by digest leaves
 *   them);
 * - `orphans` blobs were uploaded into an image and never referenced by a manifest (abandoned pushes).
 *
 * Blobs = 4.25 M + orphans (M = 20 000, 15 000 orphans: 100 000 blobs, 25 000 of them garbage).
 * Each base layer's group of four holds exactly one garbage manifest, so base layers stay.
 * Bytes are small and deterministic: a blob is regenerated from its id when written.
 */
import { createHash } from 'node:crypto';

export interface GcShapeOptions {
  /** Image manifests (a positive multiple of 16). */
  readonly manifests: number;
  /** Blobs linked into an image but referenced by no manifest. */
  readonly orphans: number;
  /** Manifests (tags) per image. */
  readonly tagsPerImage?: number;
}

export type ManifestFate = 'tagged' | 'untagged' | 'deleted';

/** One image manifest of the shape. */
export interface ShapeManifest {
  readonly index: number;
  readonly image: string;
  readonly tag: string;
  readonly fate: ManifestFate;
  readonly digest: string;
  /** The manifest's own bytes (small: kept). */
  readonly bytes: Buffer;
  /** Config first, then the three layers. */
  readonly references: readonly BlobRef[];
}

/** A blob by id, enough to regenerate its bytes. */
export interface BlobRef {
  readonly id: string;
  readonly digest: string;
  readonly size: number;
}

/** What each collector should delete, counted from the shape. */
export interface ShapeGarbage {
  /** regctl (and distribution with --delete-untagged): unreferenced by any tag. */
  readonly untaggedIncluded: { blobs: number; bytes: number };
  /** distribution without --delete-untagged: untagged manifests still count as references. */
  readonly untaggedKept: { blobs: number; bytes: number };
}

export interface GcShape {
  readonly options: Required<GcShapeOptions>;
  readonly images: readonly string[];
  readonly manifests: readonly ShapeManifest[];
  /** Orphan blobs, with the image each was uploaded into. */
  readonly orphans: readonly (BlobRef & { image: string })[];
  /** Every distinct blob (manifests included), once. */
  readonly blobCount: number;
  readonly blobBytes: number;
  readonly garbage: ShapeGarbage;
}

export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/** Size of blob `id`: 1–8 KiB for layers and orphans, a few hundred bytes for configs. */
function sizeOf(id: string): number {
  const n = createHash('sha256').update(`size:${id}`).digest().readUInt32BE(0);
  return id.startsWith('config-') ? 200 + (n % 300) : 1024 + (n % 7168);
}

/** 64 KiB of fixed pseudo-random filler; a blob is its id's hash followed by a slice of it. */
const FILLER = (() => {
  const out = Buffer.alloc(64 * 1024);
  for (let offset = 0, block = 0; offset < out.length; block++)
    offset += createHash('sha512').update(`gc-bench-filler:${block}`).digest().copy(out, offset);
  return out;
})();

/** The bytes of blob `id` (deterministic, distinct per id: its hash comes first). */
export function blobBytes(id: string, size = sizeOf(id)): Buffer {
  const head = createHash('sha256').update(`gc-bench:${id}`).digest();
  const out = Buffer.alloc(size);
  head.copy(out, 0);
  const start = head.readUInt16BE(0) % (FILLER.length - size);
  FILLER.copy(out, head.length, start, start + size - head.length);
  return out;
}

function blobRef(id: string): BlobRef {
  const size = sizeOf(id);
  return { id, size, digest: `sha256:${createHash('sha256').update(blobBytes(id, size)).digest('hex')}` };
}

function fateOf(index: number): ManifestFate {
  return index % 16 === 3 ? 'untagged' : index % 16 === 11 ? 'deleted' : 'tagged';
}

/** Builds the shape (see the module comment); digests computed here, blob bytes regenerated on demand. */
export function buildGcShape(input: GcShapeOptions): GcShape {
  const options = { tagsPerImage: 40, ...input };
  if (!Number.isInteger(options.manifests) || options.manifests <= 0 || options.manifests % 16 !== 0)
    throw new Error(`manifests must be a positive multiple of 16, got ${options.manifests}`);
  if (!Number.isInteger(options.orphans) || options.orphans < 0)
    throw new Error(`orphans must be a non-negative integer, got ${options.orphans}`);
  const imageCount = Math.ceil(options.manifests / options.tagsPerImage);
  const images = Array.from({ length: imageCount }, (_, k) => `app-${String(k).padStart(4, '0')}`);
  const bases = new Map<number, BlobRef>();
  const manifests: ShapeManifest[] = [];
  for (let i = 0; i < options.manifests; i++) {
    const group = Math.floor(i / 4);
    let base = bases.get(group);
    if (base === undefined) {
      base = blobRef(`base-${group}`);
      bases.set(group, base);
    }
    const references = [blobRef(`config-${i}`), base, blobRef(`layer-${i}-a`), blobRef(`layer-${i}-b`)];
    const [config, ...layers] = references as [BlobRef, ...BlobRef[]];
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_MEDIA_TYPE,
        config: { mediaType: CONFIG_MEDIA_TYPE, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: LAYER_MEDIA_TYPE, digest: l.digest, size: l.size })),
      }),
    );
    manifests.push({
      index: i,
      image: images[Math.floor(i / options.tagsPerImage)] as string,
      tag: `v${i % options.tagsPerImage}`,
      fate: fateOf(i),
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      bytes,
      references,
    });
  }
  const orphans = Array.from({ length: options.orphans }, (_, k) => ({
    ...blobRef(`orphan-${k}`),
    image: images[k % imageCount] as string,
  }));
  const all = new Map<string, number>();
  for (const m of manifests) {
    all.set(m.digest, m.bytes.length);
    for (const r of m.references) all.set(r.digest, r.size);
  }
  for (const o of orphans) all.set(o.digest, o.size);
  const garbageWhen = (live: (m: ShapeManifest) => boolean) => {
    const kept = new Set<string>();
    for (const m of manifests) {
      if (!live(m)) continue;
      kept.add(m.digest);
      for (const r of m.references) kept.add(r.digest);
    }
    let blobs = 0;
    let bytes = 0;
    for (const [digest, size] of all) {
      if (kept.has(digest)) continue;
      blobs++;
      bytes += size;
    }
    return { blobs, bytes };
  };
  return {
    options,
    images,
    manifests,
    orphans,
    blobCount: all.size,
    blobBytes: [...all.values()].reduce((sum, size) => sum + size, 0),
    garbage: {
      untaggedIncluded: garbageWhen((m) => m.fate === 'tagged'),
      untaggedKept: garbageWhen((m) => m.fate !== 'deleted'),
    },
  };
}

/** Every distinct blob of the shape once (manifests as their bytes, the rest by id). */
export function* shapeBlobs(shape: GcShape): Generator<{ digest: string; bytes: () => Buffer }> {
  const seen = new Set<string>();
  for (const m of shape.manifests) {
    if (!seen.has(m.digest)) {
      seen.add(m.digest);
      yield { digest: m.digest, bytes: () => m.bytes };
    }
    for (const r of m.references) {
      if (seen.has(r.digest)) continue;
      seen.add(r.digest);
      yield { digest: r.digest, bytes: () => blobBytes(r.id, r.size) };
    }
  }
  for (const o of shape.orphans) {
    if (seen.has(o.digest)) continue;
    seen.add(o.digest);
    yield { digest: o.digest, bytes: () => blobBytes(o.id, o.size) };
  }
}

/** A file or object of distribution's storage layout: path under its root, and its content. */
export interface LayoutEntry {
  readonly path: string;
  readonly content: () => Buffer;
}

/**
 * The shape in the CNCF distribution registry's storage layout (the same for its filesystem and s3
 * drivers), paths relative to the driver's root directory: blobs under
 * `docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data`, and per repository `<repository>/<image>`
 * its layer links, manifest revision links and tags (current and index links).
 */
export function* distributionLayout(shape: GcShape, repository: string): Generator<LayoutEntry> {
  const root = 'docker/registry/v2';
  const hexOf = (digest: string) => digest.slice('sha256:'.length);
  const link = (digest: string) => () => Buffer.from(digest);
  for (const blob of shapeBlobs(shape)) {
    const hex = hexOf(blob.digest);
    yield { path: `${root}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, content: blob.bytes };
  }
  for (const m of shape.manifests) {
    const repo = `${root}/repositories/${repository}/${m.image}`;
    for (const r of m.references)
      yield { path: `${repo}/_layers/sha256/${hexOf(r.digest)}/link`, content: link(r.digest) };
    if (m.fate !== 'deleted')
      yield { path: `${repo}/_manifests/revisions/sha256/${hexOf(m.digest)}/link`, content: link(m.digest) };
    if (m.fate === 'tagged') {
      const tag = `${repo}/_manifests/tags/${m.tag}`;
      yield { path: `${tag}/current/link`, content: link(m.digest) };
      yield { path: `${tag}/index/sha256/${hexOf(m.digest)}/link`, content: link(m.digest) };
    }
  }
  for (const o of shape.orphans) {
    yield {
      path: `${root}/repositories/${repository}/${o.image}/_layers/sha256/${hexOf(o.digest)}/link`,
      content: link(o.digest),
    };
  }
}
