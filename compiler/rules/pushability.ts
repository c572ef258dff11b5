import type { Config } from '../../schema/index.ts';
import { type Diagnostic, warning } from '../diagnostics.ts';
import { compileGlob } from '../plan.ts';
import type { Rule } from './types.ts';

function userCanPush(config: Config, names: string[]): boolean {
  const roles = config.security.roles;
  return config.security.users.some((user) =>
    user.roles.some((role) =>
      (roles[role] ?? []).some(
        (p) =>
          p.actions.includes('push') &&
          p.repositories.some((pattern) => {
            const glob = compileGlob(pattern);
            return names.some((n) => glob.test(n));
          }),
      ),
    ),
  );
}

/**
 * Warnings for access settings that cannot work: a writable hosted repository nobody may push
 * to (directly or through a group whose writable member it is), and anonymous push or delete on a
 * proxy, which never accepts writes.
 */
export const pushability: Rule = (config) => {
  const out: Diagnostic[] = [];
  config.repositories.forEach((repo, index) => {
    if (repo.type === 'proxy' && repo.anonymous.some((a) => a !== 'pull')) {
      out.push(
        warning(
          'proxy-write-access',
          ['repositories', index, 'anonymous'],
          `proxy \`${repo.name}\` never accepts push or delete; only pull applies`,
        ),
      );
    }
    if (repo.type !== 'hosted' || repo.deploymentPolicy === 'readOnly') return;
    const via = config.repositories
      .filter((r) => r.type === 'group' && r.writableMember === repo.name)
      .map((r) => r.name);
    const names = [repo.name, ...via];
    const anonymous = config.repositories.some((r) => names.includes(r.name) && r.anonymous.includes('push'));
    if (!anonymous && !userCanPush(config, names)) {
      out.push(
        warning(
          'hosted-not-pushable',
          ['repositories', index],
          `nobody can push to hosted repository \`${repo.name}\``,
          "grant push to a role, or add 'push' to anonymous",
        ),
      );
    }
  });
  return out;
};
