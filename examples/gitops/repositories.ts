// The repositories of the GitOps example, in their own module: the runtime watches every local
// module the config imports, so a merge that only touches this file reloads as well.
import type { ConfigInput } from '../../schema/index.ts';

export const repositories: ConfigInput['repositories'] = [
  { name: 'private', type: 'hosted', deploymentPolicy: 'disableRedeploy', anonymous: ['pull'] },
  { name: 'registry', type: 'group', members: ['private'], writableMember: 'private', anonymous: ['pull'] },
];
