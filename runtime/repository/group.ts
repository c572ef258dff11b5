/**
 * GroupRepository: asks its members in order; writes go to the writable member.
 * (Placeholder so imports resolve; the implementation lands in the following commits.)
 */
import type { FastifyBaseLogger } from 'fastify';
import type { GroupRepositoryPlan } from '../../compiler/plan.ts';
import { RegistryError } from '../errors.ts';
import type { Repository } from './repository.ts';

/** What a group repository needs besides its plan. */
export interface GroupRepositoryDeps {
  /** The flattened members, in plan order. */
  readonly members: readonly Repository[];
  /** The member receiving pushes, or null (pushes refused). */
  readonly writable: Repository | null;
  readonly log: FastifyBaseLogger;
}

/** Creates the group repository of `plan` over its member instances. */
export function createGroupRepository(plan: GroupRepositoryPlan, _deps: GroupRepositoryDeps): Repository {
  const unavailable = async (): Promise<never> => {
    throw new RegistryError('UNAVAILABLE', { message: `group repository ${plan.name} is not implemented yet` });
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
