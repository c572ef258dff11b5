/**
 * The one interface the v2 API handlers talk to. Three implementations: `HostedRepository`,
 * `ProxyRepository`, `GroupRepository`. Every method throws `RegistryError` (never a storage or
 * upstream error: implementations translate those, once).
 *
 * `image` is the name inside the repository (`library/alpine`, `myorg/app`), already validated
 * against the OCI name grammar and stripped of any routing prefix by the HTTP layer.
 */
import type { Readable } from 'node:stream';
import type { RepositoryPlan } from '../../compiler/plan.ts';
import type { BlobInfo, ByteRange, Digest } from '../storage/blob-store.ts';

export interface Manifest {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** Manifests are small (≤ 4 MiB) and are the one thing held in memory. */
  readonly body: Buffer;
}

export interface BlobResponse {
  readonly info: BlobInfo;
  /** The bytes (of `range` when one was asked), or a redirect the client should follow instead. */
  readonly body: { readonly stream: Readable } | { readonly redirect: string };
}

export interface UploadStatus {
  readonly id: string;
  readonly offset: number;
}

/** An OCI descriptor as listed by the referrers API. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Repository {
  readonly name: string;
  readonly plan: RepositoryPlan;

  /** Throws MANIFEST_UNKNOWN / NAME_UNKNOWN. `reference` is a tag or a digest. */
  getManifest(image: string, reference: string, options?: { accept?: readonly string[] }): Promise<Manifest>;
  /** Stores a manifest (and the tag, when `reference` is a tag). Returns its digest and subject. */
  putManifest(
    image: string,
    reference: string,
    body: Buffer,
    contentType: string,
  ): Promise<{ digest: Digest; subject?: Digest }>;
  /** Deletes a manifest by digest, or a tag. */
  deleteManifest(image: string, reference: string): Promise<void>;

  /** Throws BLOB_UNKNOWN. */
  statBlob(image: string, digest: Digest): Promise<BlobInfo>;
  /** Throws BLOB_UNKNOWN; `range` already validated against the size by the caller via statBlob. */
  getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse>;
  deleteBlob(image: string, digest: Digest): Promise<void>;

  /**
   * Starts an upload; with `mount`, first tries to mount an existing blob from another image of
   * this repository (`from`) and returns `{ mounted }` instead when that works.
   */
  startUpload(
    image: string,
    options?: { mount?: { digest: Digest; from?: string } },
  ): Promise<{ upload: UploadStatus } | { mounted: BlobInfo }>;
  getUpload(image: string, id: string): Promise<UploadStatus>;
  /** Throws RANGE_INVALID (416) when `offset` is not the upload's current offset. */
  appendUpload(image: string, id: string, offset: number, body: Readable): Promise<UploadStatus>;
  /** Appends `body` (if any), verifies, links the blob into `image`. Throws DIGEST_INVALID. */
  completeUpload(image: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo>;
  cancelUpload(image: string, id: string): Promise<void>;

  /** All tags of `image`, sorted (lexically); pagination is the HTTP layer's job. */
  listTags(image: string): Promise<string[]>;
  /** All image names in this repository, sorted. */
  listImages(): Promise<string[]>;
  /** Manifests whose `subject` is `digest`, optionally filtered by artifact type. */
  listReferrers(image: string, digest: Digest, artifactType?: string): Promise<Descriptor[]>;
}
