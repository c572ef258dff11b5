/**
 * GroupRepository: one name over an ordered list of members (hosted and proxy repositories; nested
 * groups are flattened by the compiler).
 *
 * Reads ask the members in order and the first that has the manifest or blob wins. The member that
 * served an image's manifest is remembered (a bounded LRU per group instance), so the image's blobs
 * are asked there first instead of walking the list again. A member that fails for a reason other
 * than "not found" (an upstream down, an offline repository) is skipped and logged; the request
 * fails only when no member could answer and at least one was unavailable (then with that error).
 *
 * Writes go to `writable` (a hosted member) or are refused when the group has none. A manifest
 * pushed through the group may refer to blobs a client never uploaded because a HEAD through the
 * group found them in another member: those are copied (streamed) into the writable member first,
 * so a pushed manifest never refers to a missing layer. Tags, catalog and referrers are unions.
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { GroupRepositoryPlan } from '../../../compiler/plan.ts';
import { type GroupObserver, NO_GROUP_OBSERVER } from '../../events.ts';
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import type { BlobInfo, ByteRange, Digest } from '../../storage/blob-store.ts';
import type {
  BlobResponse,
  Descriptor,
  Manifest,
  Repository,
  StoredContent,
  UploadStatus,
  WritableRepository,
} from '../repository.ts';
import { groupStoredContent } from '../stored-content.ts';
import { copyBlob, copyMissingReferences, isMemberMiss } from './copy.ts';

/** What a group repository needs besides its plan. */
export interface GroupRepositoryDeps {
  /** The flattened members, in plan order. */
  readonly members: readonly Repository[];
  /** The member receiving pushes (a hosted one), or null: every write is then refused. */
  readonly writable: WritableRepository | null;
  readonly log: FastifyBaseLogger;
  /** Where the answering member of each read is reported (metrics); default: nowhere. */
  readonly observer?: GroupObserver;
}

/** How many images' serving member a group remembers. */
const MEMBER_MEMORY = 10_000;

/** Creates the group repository of `plan` over its member instances. */
export function createGroupRepository(plan: GroupRepositoryPlan, deps: GroupRepositoryDeps): GroupRepository {
  return new GroupRepository(plan, deps);
}

/** A group repository; see the module comment. */
/**
 * A writable repository even without a writable member: the HTTP layer routes writes here, and the
 * group refuses them itself, naming the group and the fix (set writableMember).
 */
export class GroupRepository implements WritableRepository {
  readonly name: string;
  readonly plan: GroupRepositoryPlan;
  readonly stored: StoredContent;
  readonly #members: readonly Repository[];
  readonly #writable: WritableRepository | null;
  readonly #log: FastifyBaseLogger;
  readonly #observer: GroupObserver;
  /** image → the member that last served its manifest (LRU by re-insertion). */
  readonly #servedBy = new Map<string, Repository>();

  constructor(plan: GroupRepositoryPlan, deps: GroupRepositoryDeps) {
    this.name = plan.name;
    this.plan = plan;
    this.#members = deps.members;
    this.#writable = deps.writable;
    this.#log = deps.log;
    this.#observer = deps.observer ?? NO_GROUP_OBSERVER;
    this.stored = groupStoredContent(deps.members);
  }

  #remember(image: string, member: Repository): void {
    this.#servedBy.delete(image);
    if (this.#servedBy.size >= MEMBER_MEMORY) this.#servedBy.delete(this.#servedBy.keys().next().value!);
    this.#servedBy.set(image, member);
  }

  /** Members in asking order: the one that served the image's manifest first, when known. */
  #order(image: string): readonly Repository[] {
    const preferred = this.#servedBy.get(image);
    return preferred === undefined ? this.#members : [preferred, ...this.#members.filter((m) => m !== preferred)];
  }

  /**
   * Asks `members` in order with `ask`; returns the first answer. Misses go on to the next member;
   * other failures are logged and skipped. When nobody answered: the first unavailability error if
   * any member was unavailable, else `miss`.
   */
  async #first<T>(
    members: readonly Repository[],
    operation: string,
    ask: (member: Repository) => Promise<T>,
    miss: () => RegistryError,
  ): Promise<{ value: T; member: Repository }> {
    let failure: RegistryError | undefined;
    for (const member of members) {
      try {
        const value = await ask(member);
        this.#observer.memberHit(member.name);
        return { value, member };
      } catch (error) {
        if (isMemberMiss(error)) continue;
        this.#log.warn({ err: error, member: member.name, operation }, 'group member failed; trying the next');
        failure ??= isRegistryError(error) ? error : new RegistryError('UNKNOWN', { cause: error });
      }
    }
    throw failure ?? miss();
  }

  async getManifest(image: string, reference: string, options?: { accept?: readonly string[] }): Promise<Manifest> {
    this.#ensureOnline();
    const { value, member } = await this.#first(
      this.#order(image),
      'getManifest',
      (m) => m.getManifest(image, reference, options),
      () => new RegistryError('MANIFEST_UNKNOWN', { detail: { name: image, reference } }),
    );
    this.#remember(image, member);
    return value;
  }

  /**
   * A blob found in any member. When no member has it and one could not answer (an upstream down
   * or refusing our credentials), a group with a writable member answers BLOB_UNKNOWN as long as
   * the writable member itself says it lacks the blob: a push through the group asks this before
   * each upload, and must go on into the writable member rather than fail on a proxy's upstream.
   * A pull still gets the member's error from GET.
   */
  async statBlob(image: string, digest: Digest): Promise<BlobInfo> {
    this.#ensureOnline();
    try {
      return (await this.#findBlob(image, digest)).value;
    } catch (error) {
      if (this.#writable === null || isMemberMiss(error)) throw error;
      const writableMisses = await this.#writable.statBlob(image, digest).then(
        () => false,
        (missed: unknown) => isMemberMiss(missed),
      );
      if (!writableMisses) throw error;
      throw new RegistryError('BLOB_UNKNOWN', {
        message: `blob unknown to group ${this.name}: not in ${this.#writable.name}, and another member could not answer`,
        detail: { name: image, digest },
      });
    }
  }

  #findBlob(image: string, digest: Digest) {
    return this.#first(
      this.#order(image),
      'statBlob',
      (m) => m.statBlob(image, digest),
      () => new RegistryError('BLOB_UNKNOWN', { detail: { name: image, digest } }),
    );
  }

  async getBlob(image: string, digest: Digest, range?: ByteRange): Promise<BlobResponse> {
    this.#ensureOnline();
    const { value } = await this.#first(
      this.#order(image),
      'getBlob',
      (m) => m.getBlob(image, digest, range),
      () => new RegistryError('BLOB_UNKNOWN', { detail: { name: image, digest } }),
    );
    return value;
  }

  #target(operation: string): WritableRepository {
    this.#ensureOnline();
    if (this.#writable === null) {
      throw new RegistryError('UNSUPPORTED', {
        message: `${operation} through group ${this.name} is not possible: it has no writableMember. Push to a hosted repository, or set writableMember in the config.`,
      });
    }
    return this.#writable;
  }

  async putManifest(image: string, reference: string, body: Buffer, contentType: string) {
    const writable = this.#target('pushing a manifest');
    await copyMissingReferences({
      image,
      body,
      contentType,
      writable,
      others: this.#members.filter((m) => m !== writable),
      log: this.#log,
    });
    const result = await writable.putManifest(image, reference, body, contentType);
    this.#remember(image, writable);
    return result;
  }

  async deleteManifest(image: string, reference: string): Promise<void> {
    return this.#target('deleting a manifest').deleteManifest(image, reference);
  }

  async deleteBlob(image: string, digest: Digest): Promise<void> {
    return this.#target('deleting a blob').deleteBlob(image, digest);
  }

  /**
   * Starts an upload in the writable member. A mount is tried there first; when the blob is not
   * there but another member has it, it is streamed into the new session and reported as mounted.
   */
  async startUpload(
    image: string,
    options: { mount?: { digest: Digest; from?: string } } = {},
  ): Promise<{ upload: UploadStatus } | { mounted: BlobInfo }> {
    const writable = this.#target('pushing a blob');
    const started = await writable.startUpload(image, options);
    const mount = options.mount;
    if (mount === undefined || 'mounted' in started) return started;
    try {
      const mounted = await copyBlob({
        image,
        from: mount.from ?? image,
        digest: mount.digest,
        writable,
        members: this.#members,
        log: this.#log,
        upload: started.upload.id,
      });
      if (mounted !== undefined) return { mounted };
    } catch (error) {
      this.#log.warn({ err: error, digest: mount.digest }, 'group mount from another member failed');
    }
    // The session may have been consumed by a failed copy: start a fresh one for the client.
    const state = await writable.getUpload(image, started.upload.id).catch(() => undefined);
    if (state !== undefined) return { upload: state };
    return writable.startUpload(image);
  }

  async getUpload(image: string, id: string): Promise<UploadStatus> {
    return this.#target('an upload').getUpload(image, id);
  }

  async appendUpload(image: string, id: string, offset: number, body: Readable): Promise<UploadStatus> {
    return this.#target('an upload').appendUpload(image, id, offset, body);
  }

  async completeUpload(image: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    return this.#target('an upload').completeUpload(image, id, digest, body);
  }

  async cancelUpload(image: string, id: string): Promise<void> {
    return this.#target('an upload').cancelUpload(image, id);
  }

  async listTags(image: string): Promise<string[]> {
    this.#ensureOnline();
    const lists = await this.#all('listTags', (m) => m.listTags(image));
    if (lists === undefined) {
      throw new RegistryError('NAME_UNKNOWN', {
        message: `image ${image} is in no member of group ${this.name}`,
        detail: { name: image },
      });
    }
    return [...new Set(lists.flat())].sort();
  }

  async listImages(): Promise<string[]> {
    this.#ensureOnline();
    return [...new Set((await this.#all('listImages', (m) => m.listImages()))?.flat() ?? [])].sort();
  }

  async listReferrers(image: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    this.#ensureOnline();
    const lists = (await this.#all('listReferrers', (m) => m.listReferrers(image, digest, artifactType))) ?? [];
    const seen = new Map<string, Descriptor>();
    for (const descriptor of lists.flat()) if (!seen.has(descriptor.digest)) seen.set(descriptor.digest, descriptor);
    return [...seen.values()];
  }

  /**
   * Asks every member at once; misses and failures are dropped (failures logged). Undefined when no
   * member answered; throws the first failure when every member failed for a reason other than a miss.
   */
  async #all<T>(operation: string, ask: (member: Repository) => Promise<T>): Promise<T[] | undefined> {
    const results = await Promise.allSettled(this.#members.map(ask));
    const values: T[] = [];
    let failure: unknown;
    let misses = 0;
    results.forEach((result, index) => {
      if (result.status === 'fulfilled') values.push(result.value);
      else if (isMemberMiss(result.reason)) misses++;
      else {
        failure ??= result.reason;
        this.#log.warn(
          { err: result.reason, member: this.#members[index]?.name, operation },
          'group member failed; skipped',
        );
      }
    });
    if (values.length > 0) return values;
    if (misses === 0 && failure !== undefined) {
      throw isRegistryError(failure) ? failure : new RegistryError('UNKNOWN', { cause: failure });
    }
    return undefined;
  }

  #ensureOnline(): void {
    if (!this.plan.online) {
      throw new RegistryError('UNAVAILABLE', { message: `repository ${this.name} is offline (online: false)` });
    }
  }
}
