/**
 * HostedRepository: images pushed by clients, kept in one blob store.
 *
 * All state lives in the store (blobs, and the image metadata of `hosted-metadata.ts`: tags, manifest and
 * layer links, referrers, the catalog), so replicas sharing a store see the same repository and a
 * restart loses nothing. The instance itself holds only its plan, store, logger, a cache of
 * immutable content (hosted-cache.ts) and a short-lived cache of what pulls read (tags, links:
 * hosted-meta-cache.ts, which states the consistency guarantee). Pushes, deletes and the redeploy
 * check always read the store.
 *
 * Write order makes every intermediate state harmless to readers: a manifest's bytes are stored
 * (verified by digest) before it is linked, it is linked before its referrer entry, and the tag
 * moves last, so a client that sees a tag can always fetch what it points to.
 *
 * Deleting unlinks; the bytes stay in the store because other images or repositories on the same
 * store may link them, until garbage collection (runtime/gc/) reclaims what nothing references.
 * Every write that will rely on existing content records an intent in the GC journal first, and
 * restores what a running pass took out of sight (docs/gc.md).
 */
import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { type HostedRepositoryPlan, TAG_PATTERN } from '../../../compiler/plan.ts';
import { GcJournal } from '../../gc/journal.ts';
import { isDigest } from '../../oci/digest.ts';
import { RegistryError } from '../../oci/errors.ts';
import {
  MAX_MANIFEST_BYTES,
  type ParsedManifest,
  parseManifest,
  readManifestBytes,
  referrerDescriptor,
} from '../../oci/manifest.ts';
import type { BlobInfo, BlobStore, ByteRange, Digest } from '../../storage/blob-store.ts';
import { isStorageError } from '../../storage/errors.ts';
import { ContentCache } from '../content-cache.ts';
import { PullTimes } from '../pull-times.ts';
import type {
  BlobResponse,
  Descriptor,
  Manifest,
  PutManifestResult,
  StoredContent,
  UploadStatus,
  WritableRepository,
} from '../repository.ts';
import { toRegistryError } from '../storage-errors.ts';
import { hostedStoredContent } from '../stored-content.ts';
import { HostedBlobs } from './blobs.ts';
import { CachedHostedMetadata, type MetadataCacheOptions } from './meta-cache.ts';
import { hostedKeys, openHostedMetadata } from './metadata.ts';
import { QuotaGuard } from './quota.ts';

/** What a hosted repository needs besides its plan. */
export interface HostedRepositoryDeps {
  readonly store: BlobStore;
  readonly log: FastifyBaseLogger;
  /** Bounds of the pull-side metadata cache (hosted-meta-cache.ts); defaults: 1 s, 10 000 entries. */
  readonly metadataCache?: MetadataCacheOptions;
  /** The clock of link times and GC intents (tests move it); default `Date.now`. */
  readonly now?: () => number;
}

/** Creates the hosted repository of `plan` over `deps.store`; no I/O happens until a request. */
export function createHostedRepository(plan: HostedRepositoryPlan, deps: HostedRepositoryDeps): HostedRepository {
  return new HostedRepository(plan, deps);
}

/** See the module comment. Every method checks `online` and the deployment policy first. */
export class HostedRepository implements WritableRepository {
  readonly name: string;
  readonly plan: HostedRepositoryPlan;
  readonly stored: StoredContent;
  readonly #store: BlobStore;
  readonly #log: FastifyBaseLogger;
  /** Reads through its interface go to the store; pulls use its `cached*` reads. */
  readonly #meta: CachedHostedMetadata;
  readonly #blobs: HostedBlobs;
  /** Manifest bodies and blob sizes by digest (immutable). */
  readonly #cache = new ContentCache();
  readonly #journal: GcJournal;
  /** Last-pull times of manifests, for cleanup rules (`notPulledFor`). */
  readonly #pulls: PullTimes;
  readonly #keys: ReturnType<typeof hostedKeys>;
  readonly #quota: QuotaGuard | undefined;

  constructor(plan: HostedRepositoryPlan, deps: HostedRepositoryDeps) {
    this.name = plan.name;
    this.plan = plan;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#meta = new CachedHostedMetadata(openHostedMetadata(deps.store, plan.name, deps.now), deps.metadataCache);
    this.#journal = new GcJournal(deps.store, deps.now);
    this.#pulls = new PullTimes(deps.store, { log: deps.log, ...(deps.now === undefined ? {} : { now: deps.now }) });
    this.#keys = hostedKeys(plan.name);
    this.#quota =
      plan.quotaBytes === undefined
        ? undefined
        : new QuotaGuard(plan.name, plan.quotaBytes, deps.store, deps.now === undefined ? {} : { now: deps.now });
    this.#blobs = new HostedBlobs(plan.name, deps.store, this.#meta, this.#cache, this.#journal, this.#quota);
    this.stored = hostedStoredContent({
      store: deps.store,
      meta: this.#meta,
      cache: this.#cache,
      pulledKey: this.#keys.pulled,
      pulls: this.#pulls,
    });
  }

  /** Writes the pending pull times (the state that owns this repository is being disposed). */
  async close(): Promise<void> {
    await this.#pulls.close();
  }

  /**
   * The manifest as pushed, byte for byte, with the media type it was pushed as. `accept` is not
   * consulted: a hosted repository converts nothing, and every client that can push schema 2 or
   * OCI accepts what it pushed.
   */
  async getManifest(image: string, reference: string): Promise<Manifest> {
    return this.#run('getManifest', 'read', async () => {
      const digest = await this.#resolve(image, reference, true);
      const link = digest === undefined ? undefined : await this.#meta.cachedManifestLink(image, digest);
      if (digest === undefined || link === undefined) {
        throw new RegistryError('MANIFEST_UNKNOWN', {
          message: `manifest ${reference} of ${image} is not in repository ${this.name}`,
          detail: { name: image, reference },
        });
      }
      const body = await this.#readManifestBody(image, digest);
      this.#pulls.note(this.#keys.pulled(image, digest));
      return { digest, mediaType: link.mediaType, size: body.length, body };
    });
  }

  async putManifest(image: string, reference: string, body: Buffer, contentType: string): Promise<PutManifestResult> {
    return this.#run('putManifest', 'write', async () => {
      const byDigest = isDigest(reference);
      if (!byDigest && !TAG_PATTERN.test(reference)) {
        throw new RegistryError('MANIFEST_INVALID', {
          message: `${reference} is neither a digest nor a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`,
          detail: { reference },
        });
      }
      const manifest = parseManifest(body, contentType, byDigest ? reference : undefined);
      // Announced before anything it references is checked: a GC pass that took some of it out
      // of sight brings it back, or this check restores it (docs/gc.md).
      await this.#journal.record({
        repository: this.name,
        image,
        blobs: [...new Set(manifest.blobs.map((b) => b.digest))],
        manifests: [manifest.digest, ...new Set(manifest.manifests.map((m) => m.digest))],
        ...(byDigest ? {} : { tag: reference }),
      });
      await this.#checkReferences(image, manifest);
      // The digest the tag pointed to before (read anyway for disableRedeploy): a move is audited.
      const previous = byDigest ? undefined : await this.#meta.getTag(image, reference);
      if (!byDigest) this.#checkRedeploy(image, reference, manifest.digest, previous);
      await this.#quota?.check(manifest.digest, body.length);
      if ((await this.#store.stat(manifest.digest))?.size !== body.length) {
        await this.#store.putBlob(manifest.digest, Readable.from([body]), body.length);
      }
      await this.#meta.linkManifest(image, manifest.digest, {
        mediaType: manifest.mediaType,
        ...(manifest.subject !== undefined ? { subject: manifest.subject.digest } : {}),
      });
      if (manifest.subject !== undefined) {
        await this.#meta.addReferrer(image, manifest.subject.digest, referrerDescriptor(manifest));
      }
      this.#quota?.add(manifest.digest, body.length);
      if (!byDigest) await this.#meta.setTag(image, reference, manifest.digest);
      this.#log.debug({ image, reference, digest: manifest.digest }, 'manifest stored');
      return {
        digest: manifest.digest,
        ...(manifest.subject === undefined ? {} : { subject: manifest.subject.digest }),
        ...(previous === undefined ? {} : { previous }),
      };
    });
  }

  async deleteManifest(image: string, reference: string): Promise<void> {
    return this.#run('deleteManifest', 'write', async () => {
      const policy = this.plan.deploymentPolicy;
      if (!isDigest(reference)) {
        const digest = await this.#resolve(image, reference);
        if (digest === undefined) {
          throw new RegistryError('MANIFEST_UNKNOWN', {
            message: `tag ${reference} of ${image} is not in repository ${this.name}`,
            detail: { name: image, reference },
          });
        }
        if (policy === 'disableRedeploy') throw this.#immutable(image, reference, digest, 'deleted');
        await this.#meta.deleteTag(image, reference);
        return;
      }
      const link = await this.#meta.getManifestLink(image, reference);
      if (link === undefined) {
        throw new RegistryError('MANIFEST_UNKNOWN', {
          message: `manifest ${reference} of ${image} is not in repository ${this.name}`,
          detail: { name: image, reference },
        });
      }
      const tags = await this.#tagsOf(image, reference);
      if (policy === 'disableRedeploy' && tags.length > 0) {
        throw this.#immutable(image, tags[0] as string, reference, 'deleted (with the manifest it points to)');
      }
      for (const tag of tags) await this.#meta.deleteTag(image, tag);
      if (link.subject !== undefined) await this.#meta.removeReferrer(image, link.subject, reference);
      await this.#meta.unlinkManifest(image, reference);
    });
  }

  async statBlob(image: string, digest: Digest): Promise<BlobInfo> {
    return this.#run('statBlob', 'read', () => this.#blobs.stat(image, digest));
  }

  async getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    return this.#run('getBlob', 'read', () => this.#blobs.get(image, digest, range));
  }

  async deleteBlob(image: string, digest: Digest): Promise<void> {
    return this.#run('deleteBlob', 'write', () => this.#blobs.unlink(image, digest));
  }

  async startUpload(
    image: string,
    options: { mount?: { digest: Digest; from?: string } } = {},
  ): Promise<{ upload: UploadStatus } | { mounted: BlobInfo }> {
    return this.#run('startUpload', 'write', () => this.#blobs.startUpload(image, options.mount));
  }

  async getUpload(image: string, id: string): Promise<UploadStatus> {
    return this.#run('getUpload', 'read', () => this.#blobs.getUpload(image, id));
  }

  async appendUpload(image: string, id: string, offset: number, body: Readable): Promise<UploadStatus> {
    return this.#run('appendUpload', 'write', () => this.#blobs.appendUpload(image, id, offset, body));
  }

  async completeUpload(image: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    return this.#run('completeUpload', 'write', () => this.#blobs.completeUpload(image, id, digest, body));
  }

  /** Allowed even when read-only: discarding an unfinished upload changes nothing a client can see. */
  async cancelUpload(image: string, id: string): Promise<void> {
    return this.#run('cancelUpload', 'read', () => this.#blobs.cancelUpload(image, id));
  }

  async listTags(image: string): Promise<string[]> {
    return this.#run('listTags', 'read', async () => {
      const tags = await this.#meta.listTags(image);
      if (tags.length === 0 && !(await this.#meta.hasImage(image))) {
        throw new RegistryError('NAME_UNKNOWN', {
          message: `image ${image} is not in repository ${this.name}`,
          detail: { name: image },
        });
      }
      return [...tags].sort();
    });
  }

  async listImages(): Promise<string[]> {
    return this.#run('listImages', 'read', async () => [...(await this.#meta.listImages())].sort());
  }

  async listReferrers(image: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    return this.#run('listReferrers', 'read', async () => {
      const referrers = await this.#meta.listReferrers(image, digest);
      return artifactType === undefined ? referrers : referrers.filter((r) => r.artifactType === artifactType);
    });
  }

  /** Checks `online` and the policy, runs `fn`, and translates storage failures, once. */
  async #run<T>(operation: string, kind: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    if (!this.plan.online) {
      throw new RegistryError('UNAVAILABLE', {
        message: `repository ${this.name} is offline (online: false in the configuration)`,
        detail: { repository: this.name },
      });
    }
    if (kind === 'write' && this.plan.deploymentPolicy === 'readOnly') {
      throw new RegistryError('DENIED', {
        message: `repository ${this.name} is read-only (deploymentPolicy: readOnly): pushes and deletes are refused`,
        detail: { repository: this.name, deploymentPolicy: 'readOnly' },
      });
    }
    try {
      return await fn();
    } catch (error) {
      throw toRegistryError(error, this.#log, operation);
    }
  }

  /**
   * The digest `reference` names in `image`: itself, or what the tag points to (a malformed tag
   * names nothing). `cached`: a pull's read, through the metadata cache's bound.
   */
  async #resolve(image: string, reference: string, cached = false): Promise<Digest | undefined> {
    if (isDigest(reference)) return reference;
    if (!TAG_PATTERN.test(reference)) return undefined;
    return cached ? this.#meta.cachedTag(image, reference) : this.#meta.getTag(image, reference);
  }

  /**
   * The body of a linked manifest: from the cache, else one read of the store (no stat first: on
   * S3 that is a HEAD saved per cold GET), bounded by {@link MAX_MANIFEST_BYTES}. Linked but
   * missing or oversized content is damage to the store: logged, and MANIFEST_UNKNOWN to the client.
   */
  async #readManifestBody(image: string, digest: Digest): Promise<Buffer> {
    const cached = this.#cache.body(digest);
    if (cached !== undefined) return cached;
    const body = await this.#store.read(digest).then(readManifestBytes, (error: unknown) => {
      if (isStorageError(error, 'STORAGE_NOT_FOUND')) return undefined;
      throw error;
    });
    if (body === undefined) {
      this.#log.error({ image, digest }, 'linked manifest missing from the store or oversized');
      throw new RegistryError('MANIFEST_UNKNOWN', {
        message: `manifest ${digest} of ${image} is linked but its content is missing from the blob store`,
        detail: { name: image, reference: digest },
      });
    }
    this.#cache.setBody(digest, body);
    return body;
  }

  /** Every blob of an image manifest and every child of an index must already be in `image`. */
  async #checkReferences(image: string, manifest: ParsedManifest): Promise<void> {
    const blobs = [...new Set(manifest.blobs.map((b) => b.digest))];
    const children = [...new Set(manifest.manifests.map((m) => m.digest))];
    const missing = [
      ...(await Promise.all(blobs.map(async (d) => ((await this.#blobs.isLinked(image, d)) ? [] : [d])))).flat(),
      ...(
        await Promise.all(
          children.map(async (d) => ((await this.#meta.getManifestLink(image, d)) === undefined ? [d] : [])),
        )
      ).flat(),
    ];
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', {
        message: `manifest references ${missing.length === 1 ? 'a blob or manifest' : `${missing.length} blobs or manifests`} not pushed to ${image}: ${missing.join(', ')}`,
        detail: { digest: missing[0], missing },
      });
    }
  }

  /** Under disableRedeploy a tag, once set, keeps its digest. */
  #checkRedeploy(image: string, tag: string, digest: Digest, current: Digest | undefined): void {
    if (this.plan.deploymentPolicy !== 'disableRedeploy') return;
    if (current !== undefined && current !== digest) throw this.#immutable(image, tag, current, 'moved');
  }

  #immutable(image: string, tag: string, current: Digest, what: string): RegistryError {
    return new RegistryError('DENIED', {
      message:
        `tag ${tag} of ${image} already points to ${current} and cannot be ${what}: repository ${this.name} ` +
        'has deploymentPolicy disableRedeploy (tags are immutable); push under a new tag',
      detail: { repository: this.name, name: image, tag, digest: current, deploymentPolicy: 'disableRedeploy' },
    });
  }

  async #tagsOf(image: string, digest: Digest): Promise<string[]> {
    const tags = await this.#meta.listTags(image);
    const targets = await Promise.all(tags.map((tag) => this.#meta.getTag(image, tag)));
    return tags.filter((_, i) => targets[i] === digest);
  }
}
