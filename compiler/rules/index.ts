/** Every semantic rule, in the order their diagnostics are reported. */
import { blobStoreOverlap } from './blob-store-overlap.ts';
import { envNames } from './env-names.ts';
import { groupCycles } from './group-cycles.ts';
import { listenerConflicts } from './listener-conflicts.ts';
import { listenerRoutes } from './listener-routes.ts';
import { observability } from './observability.ts';
import { pathShadowing } from './path-shadowing.ts';
import { ports } from './ports.ts';
import { prefetch } from './prefetch.ts';
import { pushability } from './pushability.ts';
import { references } from './references.ts';
import { repositoryNames } from './repository-names.ts';
import { security } from './security.ts';
import type { Rule } from './types.ts';
import { uniqueNames } from './unique-names.ts';
import { urls } from './urls.ts';
import { writableMember } from './writable-member.ts';

export type { Rule, RuleContext } from './types.ts';

export const RULES: readonly Rule[] = [
  uniqueNames,
  repositoryNames,
  references,
  blobStoreOverlap,
  groupCycles,
  writableMember,
  ports,
  listenerRoutes,
  listenerConflicts,
  pathShadowing,
  envNames,
  urls,
  security,
  pushability,
  observability,
  prefetch,
];
