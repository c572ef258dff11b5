import { type Diagnostic, error } from '../diagnostics.ts';
import { flattenGroup } from '../groups.ts';
import type { Rule } from './types.ts';

/** A group's writableMember is a hosted repository among its (flattened) members. */
export const writableMember: Rule = (config) => {
  const out: Diagnostic[] = [];
  const byName = new Map(config.repositories.map((r) => [r.name, r] as const));
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'group' || repo.writableMember === undefined) return;
    const target = byName.get(repo.writableMember);
    if (target === undefined) return; // reported by `references`
    const path = ['repositories', index, 'writableMember'];
    if (target.type !== 'hosted') {
      out.push(
        error(
          'writable-member-not-hosted',
          path,
          `writable member \`${target.name}\` is a ${target.type} repository; it must be hosted`,
        ),
      );
      return;
    }
    const { members } = flattenGroup(repo.name, byName);
    if (!members.includes(target.name)) {
      out.push(
        error(
          'writable-member-not-member',
          path,
          `writable member \`${target.name}\` is not a member of group \`${repo.name}\``,
          `add it to members`,
        ),
      );
    }
  });
  return out;
};
