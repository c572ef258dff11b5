/**
 * Group flattening, shared by the checks and the compiler: nested groups are expanded in order,
 * duplicates dropped (first wins), and cycles reported instead of recursed into.
 */
import type { RepositoryConfig } from '../schema/index.ts';

export interface FlattenResult {
  /** Non-group members in lookup order. */
  readonly members: string[];
  /** Each cycle found, as the chain of group names that closes it (`a → b → a`). */
  readonly cycles: string[][];
}

/** Flattens group `name`; unknown members are skipped (another rule reports them). */
export function flattenGroup(name: string, byName: ReadonlyMap<string, RepositoryConfig>): FlattenResult {
  const members: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (group: string, chain: string[]) => {
    const repo = byName.get(group);
    if (repo?.type !== 'group') return;
    for (const member of repo.members) {
      if (chain.includes(member)) {
        cycles.push([...chain, member]);
        continue;
      }
      const target = byName.get(member);
      if (target === undefined) continue;
      if (target.type === 'group') visit(member, [...chain, member]);
      else if (!seen.has(member)) {
        seen.add(member);
        members.push(member);
      }
    }
  };
  visit(name, [name]);
  return { members, cycles };
}
