import { type Diagnostic, didYouMean, error, warning } from '../diagnostics.ts';
import { compileGlob, isBcryptHash } from '../plan.ts';
import type { Rule } from './types.ts';

/** A role entry without `*` names one repository (see compileGlob). */
const isGlob = (pattern: string) => pattern.includes('*');

/**
 * Users' roles exist, bcrypt hashes are well formed, role entries name existing repositories (an
 * error with did-you-mean for a plain name; a warning for a glob that matches nothing, which may
 * be meant for repositories still to come).
 */
export const security: Rule = (config) => {
  const out: Diagnostic[] = [];
  const roles = Object.keys(config.security.roles);
  config.security.users.forEach((user, index) => {
    const base = ['security', 'users', index];
    user.roles.forEach((role, r) => {
      if (!roles.includes(role))
        out.push(error('unknown-role', [...base, 'roles', r], `unknown role \`${role}\``, didYouMean(role, roles)));
    });
    if ('bcrypt' in user.password && !isBcryptHash(user.password.bcrypt)) {
      out.push(
        error(
          'invalid-bcrypt',
          [...base, 'password', 'bcrypt'],
          'not a bcrypt hash ($2a$/$2b$/$2y$, cost, 53 characters)',
          'generate one with `htpasswd -nbB user password`',
        ),
      );
    }
  });
  const repos = config.repositories.map((r) => r.name);
  for (const [role, permissions] of Object.entries(config.security.roles)) {
    permissions.forEach((permission, p) => {
      permission.repositories.forEach((pattern, i) => {
        const path = ['security', 'roles', role, p, 'repositories', i];
        if (!isGlob(pattern)) {
          if (!repos.includes(pattern)) {
            const hint = didYouMean(pattern, repos) ?? (repos.length ? `repositories: ${repos.join(', ')}` : undefined);
            out.push(error('unknown-repository', path, `unknown repository \`${pattern}\``, hint));
          }
          return;
        }
        const glob = compileGlob(pattern);
        if (!repos.some((name) => glob.test(name))) {
          out.push(
            warning(
              'pattern-matches-nothing',
              path,
              `\`${pattern}\` matches no repository`,
              didYouMean(pattern, repos),
            ),
          );
        }
      });
    });
  }
  out.push(...basicPushWithAnonymousPull(config));
  return out;
};

/**
 * Token auth off, anonymous pull on somewhere, and a role that pushes: the `/v2/` ping must then
 * answer 200 (docker gives up after a Basic 401 without credentials), and docker only sends
 * credentials after a 401 ping, so `docker push` fails there (skopeo and podman read the
 * challenge from the 200 and push).
 */
function basicPushWithAnonymousPull(config: Parameters<Rule>[0]): Diagnostic[] {
  const { security } = config;
  if (security.token.enabled || security.users.length === 0) return [];
  const anonymousPull = config.repositories.find((repo) => 'anonymous' in repo && repo.anonymous.includes('pull'));
  const pushes = Object.values(security.roles).some((permissions) =>
    permissions.some((permission) => permission.actions.includes('push')),
  );
  if (anonymousPull === undefined || !pushes) return [];
  return [
    warning(
      'basic-push-with-anonymous-pull',
      ['security', 'token', 'enabled'],
      `with token auth off and anonymous pull on \`${anonymousPull.name}\`, docker sends no credentials when it pushes (it authenticates only after a 401 to /v2/, which anonymous docker pulls cannot take with Basic auth)`,
      'keep security.token.enabled: true (the default): then every client pulls anonymously and pushes with its login',
    ),
  ];
}
