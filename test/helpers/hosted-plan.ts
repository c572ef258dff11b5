/** The plan of a hosted repository `private` with test defaults (anonymous: none, allowRedeploy). */
import type { HostedRepositoryPlan } from '../../compiler/plan.ts';

export function hostedPlan(extra: Partial<HostedRepositoryPlan> = {}): HostedRepositoryPlan {
  return {
    name: 'private',
    type: 'hosted',
    online: true,
    blobStore: 'default',
    access: { anonymous: [] },
    deploymentPolicy: 'allowRedeploy',
    ...extra,
  };
}
