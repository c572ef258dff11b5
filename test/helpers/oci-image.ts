/**
 * Test images written directly, without a Docker engine: deterministic tar + gzip layers, an image
 * config, a manifest (OCI or Docker schema2 media types), multi-arch indexes, and an OCI image
 * layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`) that skopeo reads with `oci:DIR:ref`.
 *
 * Same options → same bytes → same digests, so a test can compare what comes back from a registry
 * with what it built. Sizes here are small (test fixtures held in memory); large blobs for the
 * benchmark are streamed by `bench/lib`.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
}

/** A content-addressed blob held in memory. */
export interface Blob {
  readonly digest: string;
  readonly bytes: Buffer;
}

export interface ImageOptions {
  /** Number of layers (default 2). */
  layers?: number;
  /** Bytes of file content per layer before compression (default 64 KiB). Random bytes barely compress. */
  layerSize?: number;
  architecture?: string;
  os?: string;
  /** Makes different images with otherwise equal options (default 'regctl'). */
  seed?: string;
  /**
   * 'oci' (default) or 'docker' (schema2 media types, for raw HTTP pushes). skopeo's `oci:`
   * transport only finds OCI manifests in a layout: for Docker schema2 through skopeo, write an OCI
   * image and copy it with `--format v2s2`.
   */
  format?: 'oci' | 'docker';
}

/** An image: its manifest and every blob it references. */
export interface Image {
  readonly manifest: Blob;
  readonly mediaType: string;
  readonly config: Blob;
  readonly layers: readonly Blob[];
  /** The manifest's descriptor, with a platform, ready for an index. */
  readonly descriptor: Descriptor;
}

/** A multi-arch index with its images. */
export interface ImageIndex {
  readonly manifest: Blob;
  readonly mediaType: string;
  readonly images: readonly Image[];
  readonly descriptor: Descriptor;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(bytes: Buffer): Blob {
  return { digest: sha256(bytes), bytes };
}

/** Deterministic pseudo-random bytes: SHA-256 in counter mode over the seed. */
export function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let counter = 0; offset < size; counter++) {
    const block = createHash('sha256').update(`${seed}:${counter}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number) => header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(size, 12), 124, 12);
  field(octal(0, 12), 136, 12); // mtime 0: deterministic
  field('        ', 148, 8); // checksum placeholder
  field('0', 156, 1);
  field('ustar', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return header;
}

/** A tar archive (ustar, mtime 0, root-owned) of the given files, in the given order. */
function tarFiles(files: readonly { name: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(tarHeader(file.name, file.content.length), file.content);
    const pad = (512 - (file.content.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Builds an image in memory; same options → same digests. */
export function buildImage(options: ImageOptions = {}): Image {
  const { layers = 2, layerSize = 64 * 1024, architecture = 'amd64', os = 'linux', seed = 'regctl' } = options;
  const docker = options.format === 'docker';
  const diffIds: string[] = [];
  const layerBlobs: Blob[] = [];
  for (let i = 0; i < layers; i++) {
    const tar = tarFiles([{ name: `layer-${i}.bin`, content: seededBytes(`${seed}:${architecture}:${i}`, layerSize) }]);
    diffIds.push(sha256(tar));
    layerBlobs.push(blob(gzipSync(tar, { level: 1 })));
  }
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture,
        os,
        created: '2024-01-01T00:00:00Z',
        config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/true'], Labels: { 'test.seed': seed } },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'regctl test helper' })),
      }),
    ),
  );
  const mediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: {
          mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig,
          digest: config.digest,
          size: config.bytes.length,
        },
        layers: layerBlobs.map((l) => ({
          mediaType: docker ? MEDIA_TYPES.dockerLayer : MEDIA_TYPES.ociLayer,
          digest: l.digest,
          size: l.bytes.length,
        })),
      }),
    ),
  );
  return {
    manifest,
    mediaType,
    config,
    layers: layerBlobs,
    descriptor: { mediaType, digest: manifest.digest, size: manifest.bytes.length, platform: { architecture, os } },
  };
}

/** A multi-arch index over one image per architecture (OCI index, or Docker manifest list). */
export function buildIndex(
  options: Omit<ImageOptions, 'architecture'> & { architectures?: readonly string[] } = {},
): ImageIndex {
  const { architectures = ['amd64', 'arm64'], ...rest } = options;
  const images = architectures.map((architecture) => buildImage({ ...rest, architecture }));
  const mediaType = options.format === 'docker' ? MEDIA_TYPES.dockerList : MEDIA_TYPES.ociIndex;
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: images.map((i) => i.descriptor) })),
  );
  return {
    manifest,
    mediaType,
    images,
    descriptor: { mediaType, digest: manifest.digest, size: manifest.bytes.length },
  };
}

/** Every blob of an image or index (manifests included), each once. */
function allBlobs(item: Image | ImageIndex): Blob[] {
  const seen = new Map<string, Blob>();
  const add = (b: Blob) => seen.set(b.digest, b);
  add(item.manifest);
  const images = 'images' in item ? item.images : [item];
  for (const image of images) {
    add(image.manifest);
    add(image.config);
    for (const layer of image.layers) add(layer);
  }
  return [...seen.values()];
}

/**
 * Writes an OCI image layout holding the given images/indexes under their refs
 * (`org.opencontainers.image.ref.name`), so `skopeo copy oci:DIR:REF …` finds them.
 */
export async function writeOciLayout(
  dir: string,
  entries: Readonly<Record<string, Image | ImageIndex>>,
): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests: Descriptor[] = [];
  for (const [ref, item] of Object.entries(entries)) {
    for (const b of allBlobs(item)) await writeFile(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
    const { platform: _platform, ...descriptor } = item.descriptor;
    manifests.push({ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': ref } } as Descriptor);
  }
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }),
  );
}
