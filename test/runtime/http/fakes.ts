/**
 * Small honest fakes of the interfaces the HTTP layer talks to (Repository, AccessController,
 * BlobStore factories), so routing and rendering are tested without the other modules.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import type { Action, HostedRepositoryPlan, ListenerPlan, Plan, RepositoryPlan } from '../../../compiler/plan.ts';
import type { AccessController, AuthRequest, AuthScope, Principal } from '../../../runtime/auth/types.ts';
import { RegistryError } from '../../../runtime/oci/errors.ts';
import type {
  Descriptor,
  Manifest,
  Repository,
  UploadStatus,
  WritableRepository,
} from '../../../runtime/repositories/repository.ts';
import type { RuntimeFactories } from '../../../runtime/server/state.ts';
import type { BlobInfo, BlobStore, ByteRange } from '../../../runtime/storage/blob-store.ts';

export const silentLog = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hostedPlan(name: string, extra: Partial<HostedRepositoryPlan> = {}): HostedRepositoryPlan {
  return {
    name,
    type: 'hosted',
    online: true,
    blobStore: 'default',
    access: { anonymous: ['pull', 'push', 'delete'] },
    deploymentPolicy: 'allowRedeploy',
    ...extra,
  };
}

export function listenerPlan(extra: Partial<ListenerPlan> = {}): ListenerPlan {
  return {
    id: '127.0.0.1:0',
    host: '127.0.0.1',
    port: 0,
    tls: null,
    mirrors: {},
    virtualHosts: {},
    paths: {},
    defaultRepository: 'private',
    ...extra,
  };
}

export function makePlan(
  options: { repositories?: RepositoryPlan[]; listeners?: ListenerPlan[]; id?: string } = {},
): Plan {
  const repositories = options.repositories ?? [hostedPlan('private')];
  return {
    id: options.id ?? 'plan-1',
    version: 1,
    blobStores: { default: { name: 'default', driver: 'file', path: '/nonexistent' } },
    repositories: Object.fromEntries(repositories.map((r) => [r.name, r])),
    listeners: options.listeners ?? [listenerPlan()],
    security: {
      realm: 'regctl',
      users: [],
      roles: {},
      token: { enabled: false, issuer: 'regctl', service: 'regctl', ttlMs: 300_000, signingKey: null },
    },
  };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

interface FakeImage {
  tags: Map<string, string>;
  manifests: Map<string, Manifest & { subject?: string; artifactType?: string }>;
  blobs: Set<string>;
}

/** An in-memory hosted repository: enough of the contract to exercise every route. */
export class FakeRepository implements WritableRepository {
  readonly name: string;
  readonly plan: HostedRepositoryPlan;
  readonly blobs = new Map<string, Buffer>();
  readonly images = new Map<string, FakeImage>();
  readonly uploads = new Map<string, { image: string; chunks: Buffer[]; offset: number }>();
  readonly calls: string[] = [];
  closed = 0;
  /** What this instance leases from the state's pool (set by {@link FakeWorld}'s factory). */
  shared: FakeShared | undefined;

  constructor(plan: HostedRepositoryPlan) {
    this.name = plan.name;
    this.plan = plan;
  }

  #image(image: string, create = false): FakeImage {
    let entry = this.images.get(image);
    if (!entry && create) {
      entry = { tags: new Map(), manifests: new Map(), blobs: new Set() };
      this.images.set(image, entry);
    }
    if (!entry) throw new RegistryError('NAME_UNKNOWN', { detail: { name: image } });
    return entry;
  }

  #writable(): void {
    if (this.plan.deploymentPolicy === 'readOnly') throw new RegistryError('DENIED', { message: 'read-only' });
  }

  async getManifest(image: string, reference: string, options?: { accept?: readonly string[] }): Promise<Manifest> {
    this.calls.push(`getManifest ${image} ${reference} ${options?.accept?.join('|') ?? ''}`);
    const entry = this.images.get(image);
    const digest = reference.includes(':') ? reference : entry?.tags.get(reference);
    const manifest = digest ? entry?.manifests.get(digest) : undefined;
    if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference } });
    return manifest;
  }

  async putManifest(image: string, reference: string, body: Buffer, contentType: string) {
    this.#writable();
    const digest = sha256(body);
    if (reference.includes(':') && reference !== digest) throw new RegistryError('DIGEST_INVALID');
    let parsed: {
      mediaType?: string;
      subject?: { digest: string };
      artifactType?: string;
      config?: { mediaType: string };
    };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('MANIFEST_INVALID');
    }
    const entry = this.#image(image, true);
    if (!reference.includes(':') && this.plan.deploymentPolicy === 'disableRedeploy') {
      const current = entry.tags.get(reference);
      if (current && current !== digest) throw new RegistryError('DENIED', { message: `tag ${reference} exists` });
    }
    const mediaType = contentType || parsed.mediaType || 'application/vnd.oci.image.manifest.v1+json';
    const subject = parsed.subject?.digest;
    const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
    entry.manifests.set(digest, { digest, mediaType, size: body.length, body, subject, artifactType });
    if (!reference.includes(':')) entry.tags.set(reference, digest);
    return subject ? { digest, subject } : { digest };
  }

  async deleteManifest(image: string, reference: string): Promise<void> {
    this.#writable();
    const entry = this.#image(image);
    if (!reference.includes(':')) {
      if (this.plan.deploymentPolicy === 'disableRedeploy') throw new RegistryError('DENIED');
      if (!entry.tags.delete(reference)) throw new RegistryError('MANIFEST_UNKNOWN');
      return;
    }
    if (!entry.manifests.delete(reference)) throw new RegistryError('MANIFEST_UNKNOWN');
    for (const [tag, digest] of entry.tags) if (digest === reference) entry.tags.delete(tag);
  }

  async statBlob(image: string, digest: string): Promise<BlobInfo> {
    this.calls.push(`statBlob ${image} ${digest}`);
    const data = this.images.get(image)?.blobs.has(digest) ? this.blobs.get(digest) : undefined;
    if (!data) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
    return { digest, size: data.length };
  }

  async getBlob(image: string, digest: string, range?: ByteRange) {
    const info = await this.statBlob(image, digest);
    const data = this.blobs.get(digest)!;
    const slice = range ? data.subarray(range.start, range.end + 1) : data;
    return { info, body: { stream: Readable.from([slice]) } };
  }

  async deleteBlob(image: string, digest: string): Promise<void> {
    this.#writable();
    if (!this.images.get(image)?.blobs.delete(digest)) throw new RegistryError('BLOB_UNKNOWN');
  }

  async startUpload(image: string, options?: { mount?: { digest: string; from?: string } }) {
    this.#writable();
    this.calls.push(`startUpload ${image} ${JSON.stringify(options ?? {})}`);
    const mount = options?.mount;
    if (mount?.from && this.images.get(mount.from)?.blobs.has(mount.digest)) {
      this.#image(image, true).blobs.add(mount.digest);
      return { mounted: { digest: mount.digest, size: this.blobs.get(mount.digest)!.length } };
    }
    const id = randomUUID();
    this.uploads.set(id, { image, chunks: [], offset: 0 });
    return { upload: { id, offset: 0 } };
  }

  #upload(image: string, id: string) {
    const upload = this.uploads.get(id);
    if (!upload || upload.image !== image) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return upload;
  }

  async getUpload(image: string, id: string): Promise<UploadStatus> {
    return { id, offset: this.#upload(image, id).offset };
  }

  async appendUpload(image: string, id: string, offset: number, body: Readable): Promise<UploadStatus> {
    const upload = this.#upload(image, id);
    if (offset !== upload.offset) throw new RegistryError('RANGE_INVALID');
    const data = await collect(body);
    upload.chunks.push(data);
    upload.offset += data.length;
    return { id, offset: upload.offset };
  }

  async completeUpload(image: string, id: string, digest: string, body?: Readable): Promise<BlobInfo> {
    const upload = this.#upload(image, id);
    if (body) upload.chunks.push(await collect(body));
    const data = Buffer.concat(upload.chunks);
    this.uploads.delete(id);
    if (sha256(data) !== digest) throw new RegistryError('DIGEST_INVALID');
    this.blobs.set(digest, data);
    this.#image(image, true).blobs.add(digest);
    return { digest, size: data.length };
  }

  async cancelUpload(image: string, id: string): Promise<void> {
    this.#upload(image, id);
    this.uploads.delete(id);
  }

  async listTags(image: string): Promise<string[]> {
    return [...this.#image(image).tags.keys()].sort();
  }

  async listImages(): Promise<string[]> {
    return [...this.images.keys()].sort();
  }

  async listReferrers(image: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    const entry = this.images.get(image);
    const all = [...(entry?.manifests.values() ?? [])].filter((m) => m.subject === digest);
    return all
      .filter((m) => artifactType === undefined || m.artifactType === artifactType)
      .map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
      }));
  }

  async close(): Promise<void> {
    this.closed += 1;
  }
}

/** Anonymous per the plan's `access.anonymous`; `Basic admin:secret` may do everything. */
export class FakeAccessController implements AccessController {
  readonly plan: Plan;
  readonly scopes: AuthScope[] = [];
  closed = 0;

  constructor(plan: Plan) {
    this.plan = plan;
  }

  #user(request: AuthRequest): string | null {
    const header = request.headers.authorization;
    if (header === undefined) return null;
    if (header === `Basic ${Buffer.from('admin:secret').toString('base64')}`) return 'admin';
    throw this.#challenge();
  }

  #challenge(): RegistryError {
    return new RegistryError('UNAUTHORIZED', { headers: { 'WWW-Authenticate': 'Basic realm="regctl"' } });
  }

  #anonymous(repository: string): readonly Action[] {
    return this.plan.repositories[repository]?.access.anonymous ?? [];
  }

  async authorize(request: AuthRequest, scope: AuthScope): Promise<Principal> {
    this.scopes.push(scope);
    const user = this.#user(request);
    if (user) return { user };
    if ('base' in scope) {
      if (scope.repositories.some((r) => this.#anonymous(r).includes('pull'))) return { user: null };
      throw this.#challenge();
    }
    if (scope.actions.every((action) => this.#anonymous(scope.repository).includes(action))) return { user: null };
    throw this.#challenge();
  }

  can(principal: Principal, repository: string, action: Action): boolean {
    return principal.user !== null || this.#anonymous(repository).includes(action);
  }

  async issueToken(
    _request: AuthRequest,
    query: { scope?: readonly string[] },
    resolve: (name: string) => string | undefined,
  ) {
    const names = (query.scope ?? []).map(
      (scope) => `${scope.split(':')[1]}=${resolve(scope.split(':')[1] ?? '') ?? '-'}`,
    );
    const token = Buffer.from(names.join(',')).toString('base64url');
    return { token, access_token: token, expires_in: 300, issued_at: new Date(0).toISOString() };
  }

  async close(): Promise<void> {
    this.closed += 1;
  }
}

/** Records what it builds so tests can check reuse and disposal. */
/** A resource shared across states, as a proxy's upstream is. */
export interface FakeShared {
  readonly name: string;
  closed: number;
}

export class FakeWorld {
  readonly stores: Array<{ name: string; closed: number }> = [];
  readonly repositories = new Map<string, FakeRepository>();
  readonly controllers: FakeAccessController[] = [];
  /** The resources the fake repositories lease, in creation order. */
  readonly shared: FakeShared[] = [];

  get factories(): RuntimeFactories {
    return {
      createBlobStore: async (plan) => {
        const record = { name: plan.name, closed: 0 };
        this.stores.push(record);
        const store = {
          name: plan.name,
          listMeta: async () => [],
          close: async () => {
            record.closed += 1;
          },
        };
        return store as unknown as BlobStore;
      },
      createRepositories: async (plan, _stores, deps) => {
        // As the real factory: a new repository per state, leasing one shared resource (as a
        // proxy leases its upstream) under a key naming its whole plan.
        const result = new Map<string, Repository>();
        for (const repository of Object.values(plan.repositories)) {
          const fresh = new FakeRepository(repository as HostedRepositoryPlan);
          const { value, created } = deps.resources.use(
            `fake-shared:${repository.name}:${JSON.stringify(repository)}`,
            () => ({ name: repository.name, closed: 0 }),
            (shared) => {
              shared.closed += 1;
            },
          );
          if (created) this.shared.push(value);
          fresh.shared = value;
          this.repositories.set(repository.name, fresh);
          result.set(repository.name, fresh);
        }
        return result;
      },
      createAccessController: async (plan) => {
        const controller = new FakeAccessController(plan);
        this.controllers.push(controller);
        return controller;
      },
    };
  }
}
