/**
 * The content the read contract (readable-repository.ts) expects a repository to hold, as data:
 * exact blob and manifest bytes, so every implementation is seeded with the same images by its own
 * means (a hosted repository through its write API, a proxy's upstream over HTTP) and the suite
 * knows every digest in advance.
 *
 *   team/app   v1, v10 → one manifest (config + "hello, registry"); v2, latest → another
 *   a/tool     1.0
 *   multi      latest → an OCI index over an untagged amd64 manifest
 *   signed     v1 → a subject; an untagged signature manifest whose `subject` is it
 */
import { Readable } from 'node:stream';
import { digestOf } from '../../runtime/oci/digest.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../runtime/oci/media-types.ts';
import type { WritableRepository } from '../../runtime/repositories/repository.ts';

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const SIGNATURE_TYPE = 'application/vnd.example.signature';

/** One manifest to hold, with the tags that point to it (none: reachable by digest only). */
export interface ContentManifest {
  readonly mediaType: string;
  readonly body: Buffer;
  readonly digest: string;
  readonly tags: readonly string[];
}

/** One image to hold: its blobs, then its manifests in an order that can be pushed (children first). */
export interface ContentImage {
  readonly name: string;
  readonly blobs: readonly Buffer[];
  readonly manifests: readonly ContentManifest[];
}

/** What a readable repository's factory is asked to hold. */
export type RepositoryContent = readonly ContentImage[];

function manifest(mediaType: string, document: Record<string, unknown>, tags: readonly string[]): ContentManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...document }, null, 2));
  return { mediaType, body, digest: digestOf(body), tags };
}

/** An image manifest over a config naming `image` and one layer per string. */
function imageManifest(image: string, layers: readonly string[], tags: readonly string[], extra = {}) {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"x":"${image}"}`);
  const blobs = [config, ...layers.map((layer) => Buffer.from(layer))];
  const descriptor = (mediaType: string, blob: Buffer) => ({ mediaType, digest: digestOf(blob), size: blob.length });
  const built = manifest(
    OCI_MANIFEST,
    {
      config: descriptor(OCI_CONFIG, config),
      layers: blobs.slice(1).map((blob) => descriptor(OCI_LAYER, blob)),
      ...extra,
    },
    tags,
  );
  return { blobs, manifest: built };
}

const appV1 = imageManifest('team/app', ['hello, registry'], ['v1', 'v10']);
const appV2 = imageManifest('team/app', ['second layer'], ['v2', 'latest']);
const tool = imageManifest('a/tool', ['tool layer'], ['1.0']);
const amd64 = imageManifest('multi', ['amd64 layer'], []);
const index = manifest(
  OCI_INDEX,
  {
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: amd64.manifest.digest,
        size: amd64.manifest.body.length,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  },
  ['latest'],
);
const subject = imageManifest('signed', ['signed layer'], ['v1']);
const signature = imageManifest('signed', ['signature'], [], {
  artifactType: SIGNATURE_TYPE,
  subject: { mediaType: OCI_MANIFEST, digest: subject.manifest.digest, size: subject.manifest.body.length },
});

/** The named parts of {@link CONTRACT_CONTENT}, for the assertions. */
export const contract = {
  app: { v1: appV1.manifest, v2: appV2.manifest, layer: appV1.blobs[1]! },
  tool: tool.manifest,
  multi: { index, amd64: amd64.manifest },
  signed: { subject: subject.manifest, signature: signature.manifest },
};

export const CONTRACT_CONTENT: RepositoryContent = [
  { name: 'team/app', blobs: [...appV1.blobs, ...appV2.blobs], manifests: [appV1.manifest, appV2.manifest] },
  { name: 'a/tool', blobs: tool.blobs, manifests: [tool.manifest] },
  { name: 'multi', blobs: amd64.blobs, manifests: [amd64.manifest, index] },
  { name: 'signed', blobs: [...subject.blobs, ...signature.blobs], manifests: [subject.manifest, signature.manifest] },
];

/** Holds `images` in `repository` through its write API: blobs in one upload each, then manifests. */
export async function seedByPushing(repository: WritableRepository, images: RepositoryContent): Promise<void> {
  for (const image of images) {
    for (const blob of image.blobs) {
      const started = await repository.startUpload(image.name);
      if (!('upload' in started)) throw new Error('expected an upload session');
      await repository.completeUpload(image.name, started.upload.id, digestOf(blob), Readable.from([blob]));
    }
    for (const { body, mediaType, digest, tags } of image.manifests) {
      for (const reference of tags.length === 0 ? [digest] : tags) {
        await repository.putManifest(image.name, reference, body, mediaType);
      }
    }
  }
}
