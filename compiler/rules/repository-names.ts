import { type Diagnostic, error } from '../diagnostics.ts';
import { NAME_COMPONENT_SOURCE } from '../plan.ts';
import type { Rule } from './types.ts';

const COMPONENT = new RegExp(`^${NAME_COMPONENT_SOURCE}$`);
/** Names that would collide with the URL space: `/v2/`, `/-/token`, `/repository/<name>/v2/`. */
export const RESERVED_REPOSITORY_NAMES = ['v2', '-', 'repository'] as const;

/** Repository names are valid OCI name components and not reserved. */
export const repositoryNames: Rule = (config) => {
  const out: Diagnostic[] = [];
  config.repositories.forEach((repo, index) => {
    const path = ['repositories', index, 'name'];
    if ((RESERVED_REPOSITORY_NAMES as readonly string[]).includes(repo.name)) {
      out.push(error('reserved-name', path, `\`${repo.name}\` is reserved and cannot name a repository`));
    } else if (!COMPONENT.test(repo.name)) {
      const suggestion = repo.name
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
      out.push(
        error(
          'invalid-name',
          path,
          `\`${repo.name}\` is not a valid repository name: use lowercase letters, digits and single separators (. _ __ -)`,
          suggestion && COMPONENT.test(suggestion) ? `did you mean \`${suggestion}\`?` : undefined,
        ),
      );
    }
  });
  return out;
};
