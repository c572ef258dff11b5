/**
 * ProxyRepository: reads through to an upstream registry and caches into its blob store.
 * (Placeholder so imports resolve; the implementation lands in the following commits.)
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyRepositoryPlan } from '../../compiler/plan.ts';
import { RegistryError } from '../errors.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { Repository } from './repository.ts';

/** What a proxy repository needs besides its plan. */
export interface ProxyRepositoryDeps {
  readonly store: BlobStore;
  readonly env: NodeJS.ProcessEnv;
  readonly log: FastifyBaseLogger;
  /** The instance this one replaces at a reload: its pools and caches may be reused. */
  readonly previous?: Repository;
}

/** Creates the proxy repository of `plan`, caching into `deps.store`. */
export function createProxyRepository(plan: ProxyRepositoryPlan, _deps: ProxyRepositoryDeps): Repository {
  const unavailable = async (): Promise<never> => {
    throw new RegistryError('UNAVAILABLE', { message: `proxy repository ${plan.name} is not implemented yet` });
  };
  return {
    name: plan.name,
    plan,
    getManifest: unavailable,
    putManifest: unavailable,
    deleteManifest: unavailable,
    statBlob: unavailable,
    getBlob: unavailable,
    deleteBlob: unavailable,
    startUpload: unavailable,
    getUpload: unavailable,
    appendUpload: unavailable,
    completeUpload: unavailable,
    cancelUpload: unavailable,
    listTags: unavailable,
    listImages: unavailable,
    listReferrers: unavailable,
  };
}
