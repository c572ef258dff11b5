/**
 * The interfaces the v2 API handlers talk to, in two layers:
 *
 * - {@link ReadableRepository}: what every repository serves (manifests, blobs, tags, catalog,
 *   referrers). `ProxyRepository` implements only this: it caches an upstream and never sends
 *   anything there, so it has no write methods at all.
 * - {@link WritableRepository}: the read contract plus pushes, deletes and uploads.
 *   `HostedRepository` and `GroupRepository` implement it (a group without a writableMember
 *   refuses each write itself, naming the group and the fix).
 *
 * The HTTP layer asks {@link isWritable} before a write and refuses a read-only repository in one
 * place ({@link readOnlyRefusal}). Every method throws `RegistryError` (never a storage or
 * upstream error: implementations translate those, once). Conformance suites:
 * `test/suites/readable-repository.ts` (read) and `test/suites/repository.ts` (read + write).
 *
 * `image` is the name inside the repository (`library/alpine`, `myorg/app`), already validated
 * against the OCI name grammar and stripped of any routing prefix by the HTTP layer.
 */
import type { Readable } from 'node:stream';
import type { RepositoryPlan } from '../../compiler/plan.ts';
import { RegistryError } from '../oci/errors.ts';
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

/** A manifest as stored (for a proxy: as cached), with what the store recorded about it. */
export interface StoredManifest {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly body: Buffer;
  /** Epoch ms it was pushed (a proxy: cached), when recorded. */
  readonly storedAt?: number;
  /** Epoch ms of its last pull, when recorded (coarse: see pull-times.ts). */
  readonly pulledAt?: number;
}

/**
 * What is stored, read without side effects: no pull time is noted, nothing is fetched upstream,
 * no cache is filled. For browsing (the web UI, runtime/ui/), never for serving the v2 API. Every
 * method answers for what this repository itself holds (a group: its members', in order).
 */
export interface StoredContent {
  /** The stored tags of `image`, sorted; [] when there are none (or no such image). */
  listTags(image: string): Promise<string[]>;
  /** The digest `tag` points to as stored, or undefined. */
  resolveTag(image: string, tag: string): Promise<Digest | undefined>;
  /** The stored manifest `digest` of `image`, or undefined. */
  readManifest(image: string, digest: Digest): Promise<StoredManifest | undefined>;
  /** Stored manifests whose subject is `digest` ([] for a proxy: referrers are not cached). */
  listReferrers(image: string, digest: Digest): Promise<Descriptor[]>;
  /**
   * The bytes of a small blob linked in `image` (an image config), or undefined when it is not
   * stored for the image or is larger than a manifest may be (4 MiB).
   */
  readConfig(image: string, digest: Digest): Promise<Buffer | undefined>;
}

/**
 * What every repository serves. Reads never change what a later read sees, except that a proxy
 * fills its cache (invisible to clients apart from speed and availability while its upstream is down).
 */
export interface ReadableRepository {
  readonly name: string;
  readonly plan: RepositoryPlan;
  /** Read-only access to what is stored, for browsing (optional: fakes in tests need not offer it). */
  readonly stored?: StoredContent;

  /** Throws MANIFEST_UNKNOWN / NAME_UNKNOWN. `reference` is a tag or a digest. */
  getManifest(image: string, reference: string, options?: { accept?: readonly string[] }): Promise<Manifest>;
  /** Throws BLOB_UNKNOWN, also for a blob that exists only in another image. */
  statBlob(image: string, digest: Digest): Promise<BlobInfo>;
  /** Throws BLOB_UNKNOWN; `range` already validated against the size by the caller via statBlob. */
  getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse>;
  /** All tags of `image`, sorted (lexically); pagination is the HTTP layer's job. Throws NAME_UNKNOWN. */
  listTags(image: string): Promise<string[]>;
  /** All image names in this repository (for a proxy: those it has cached), sorted. */
  listImages(): Promise<string[]>;
  /** Manifests whose `subject` is `digest`, optionally filtered by artifact type; [] for none. */
  listReferrers(image: string, digest: Digest, artifactType?: string): Promise<Descriptor[]>;
}

/** What {@link WritableRepository.putManifest} stored. */
export interface PutManifestResult {
  readonly digest: Digest;
  readonly subject?: Digest;
  /** The digest the pushed tag pointed to before, when it existed. */
  readonly previous?: Digest;
}

/** A repository that also takes pushes and deletes; see the module comment. */
export interface WritableRepository extends ReadableRepository {
  /**
   * Stores a manifest (and the tag, when `reference` is a tag). Returns its digest, its subject,
   * and the digest the tag pointed to before when it was already set (a tag move when it differs).
   */
  putManifest(image: string, reference: string, body: Buffer, contentType: string): Promise<PutManifestResult>;
  /** Deletes a manifest by digest, or a tag. */
  deleteManifest(image: string, reference: string): Promise<void>;
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
}

/** Any repository of a plan; narrow with {@link isWritable} before writing. */
export type Repository = ReadableRepository | WritableRepository;

/** The methods that make a repository writable, all of which {@link isWritable} checks. */
const WRITE_METHODS = [
  'putManifest',
  'deleteManifest',
  'deleteBlob',
  'startUpload',
  'getUpload',
  'appendUpload',
  'completeUpload',
  'cancelUpload',
] as const satisfies readonly WriteMethod[];
type WriteMethod = Exclude<keyof WritableRepository, keyof ReadableRepository>;
/** Fails to compile when a write method is added to the interface but not to {@link WRITE_METHODS}. */
const everyWriteMethodListed: [WriteMethod] extends [(typeof WRITE_METHODS)[number]] ? true : never = true;
void everyWriteMethodListed;

/** True when `repository` implements the write methods (hosted, group); false for a proxy. */
export function isWritable(repository: Repository): repository is WritableRepository {
  const methods = repository as Partial<Record<WriteMethod, unknown>>;
  return WRITE_METHODS.every((method) => typeof methods[method] === 'function');
}

/**
 * The refusal of a write (`operation`: "pushing a manifest", "an upload", …) on a read-only
 * repository: `UNSUPPORTED` (405), saying why and where to push instead.
 */
export function readOnlyRefusal(repository: ReadableRepository, operation: string): RegistryError {
  const { plan } = repository;
  const why =
    plan.type === 'proxy'
      ? `proxy repository ${repository.name}: it only caches ${plan.remote.url}, and nothing is ever sent upstream.`
      : `repository ${repository.name}: it is read-only.`;
  return new RegistryError('UNSUPPORTED', {
    message: `${operation} is not supported by ${why} Push to a hosted repository, or to a group with a writableMember.`,
  });
}
