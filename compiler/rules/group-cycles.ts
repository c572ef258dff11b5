import { type Diagnostic, error } from '../diagnostics.ts';
import { flattenGroup } from '../groups.ts';
import type { Rule } from './types.ts';

/** Groups do not contain themselves, directly (reported by `references`) or through other groups. */
export const groupCycles: Rule = (config) => {
  const out: Diagnostic[] = [];
  const byName = new Map(config.repositories.map((r) => [r.name, r] as const));
  const reported = new Set<string>();
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'group') return;
    for (const cycle of flattenGroup(repo.name, byName).cycles) {
      if (cycle.length <= 2) continue; // a group listing itself: reported as a direct self-reference
      const key = [...cycle.slice(0, -1)].sort().join(',');
      if (reported.has(key)) continue;
      reported.add(key);
      const member = repo.members.indexOf(cycle[1]!);
      out.push(
        error(
          'group-cycle',
          ['repositories', index, 'members', member],
          `group cycle: ${cycle.join(' → ')}`,
          'a group may not contain itself through other groups',
        ),
      );
    }
  });
  return out;
};
