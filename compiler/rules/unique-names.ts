import { type Diagnostic, error } from '../diagnostics.ts';
import type { Rule } from './types.ts';

function duplicates(list: readonly { name: string }[], root: string, kind: string): Diagnostic[] {
  const first = new Map<string, number>();
  const out: Diagnostic[] = [];
  list.forEach((item, index) => {
    const previous = first.get(item.name);
    if (previous === undefined) first.set(item.name, index);
    else
      out.push(
        error(
          'duplicate-name',
          [root, index, 'name'],
          `duplicate ${kind} name \`${item.name}\``,
          `first defined at ${root}[${previous}]`,
        ),
      );
  });
  return out;
}

/** Blob store, repository and user names are unique in their lists. */
export const uniqueNames: Rule = (config) => [
  ...duplicates(config.blobStores, 'blobStores', 'blob store'),
  ...duplicates(config.repositories, 'repositories', 'repository'),
  ...duplicates(config.security.users, 'users', 'user').map((d) => ({ ...d, path: ['security', ...d.path] })),
];
