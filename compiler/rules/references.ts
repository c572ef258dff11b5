import { type Diagnostic, didYouMean, error } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/** Blob stores and group members named by repositories exist. */
export const references: Rule = (config) => {
  const out: Diagnostic[] = [];
  const stores = config.blobStores.map((s) => s.name);
  const repos = config.repositories.map((r) => r.name);
  config.repositories.forEach((repo, index) => {
    if (!stores.includes(repo.blobStore)) {
      const hint =
        didYouMean(repo.blobStore, stores) ??
        (stores.length ? `blob stores: ${stores.join(', ')}` : 'declare it in blobStores');
      out.push(
        error(
          'unknown-blob-store',
          ['repositories', index, 'blobStore'],
          `unknown blob store \`${repo.blobStore}\``,
          hint,
        ),
      );
    }
    if (repo.type !== 'group') return;
    repo.members.forEach((member, m) => {
      if (member === repo.name) {
        out.push(
          error('group-cycle', ['repositories', index, 'members', m], `group \`${repo.name}\` cannot contain itself`),
        );
      } else if (!repos.includes(member)) {
        out.push(
          error(
            'unknown-member',
            ['repositories', index, 'members', m],
            `unknown repository \`${member}\``,
            didYouMean(member, repos),
          ),
        );
      }
    });
    if (repo.writableMember !== undefined && !repos.includes(repo.writableMember)) {
      out.push(
        error(
          'unknown-member',
          ['repositories', index, 'writableMember'],
          `unknown repository \`${repo.writableMember}\``,
          didYouMean(repo.writableMember, repos),
        ),
      );
    }
  });
  return out;
};
