/**
 * Auth for the registry's HTTP API: HTTP Basic, a Docker token endpoint issuing short-lived JWTs,
 * per-repository anonymous access and role permissions, with verified credentials cached and
 * failed logins throttled; password checks run on libuv's pool, a bounded number at a time.
 *
 * The HTTP layer calls {@link createAccessController} once per plan, `authorize()` before each
 * repository operation and for `GET /v2/`, routes `GET /-/token` to `issueToken()`, and
 * `close()`s the controller when the plan is replaced.
 */
import type { FastifyBaseLogger } from 'fastify';
import { DEFAULT_LOGIN_THROTTLE, type Plan } from '../../compiler/plan.ts';
import { BasicAuthenticator } from './basic.ts';
import { PlanAccessController } from './controller.ts';
import { LoginThrottle } from './login-throttle.ts';
import { PasswordChecks } from './password-checks.ts';
import { TokenService } from './token.ts';
import type { AccessController } from './types.ts';
import { createDecoyHash, resolveUsers } from './users.ts';

export { TOKEN_PATH } from './challenge.ts';
export type {
  AccessController,
  AuthRequest,
  AuthScope,
  BaseScope,
  Principal,
  RepositoryScope,
  TokenQuery,
  TokenResponse,
} from './types.ts';
export { AuthSetupError } from './users.ts';

/** The second argument of {@link createAccessController}. */
export interface AccessControllerOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly log: FastifyBaseLogger;
  /**
   * The controller this one replaces (a reload). Only its random token key is carried over, when
   * neither plan names a shared `signingKey`, so clients' tokens survive the reload; users,
   * permissions and caches always come fresh from the new plan (a carried-over token is still
   * checked against the new users and permissions).
   */
  readonly previous?: AccessController;
  /** Clock of the controller and its caches, for tests (default `Date.now`). */
  readonly now?: () => number;
  /** Where bcrypt verifications run, for tests (default: a new bounded {@link PasswordChecks}). */
  readonly checks?: PasswordChecks;
  /** How long a throttled login is held before its 429, at most, for tests (default 1 s). */
  readonly refusalDelayMs?: number;
}

/**
 * Builds the access controller of `plan`: resolves every user's password source and the token
 * signing key from `env` now, so a missing secret stops startup (or a reload) rather than
 * failing requests later.
 *
 * @throws AuthSetupError `AUTH_ENV_MISSING` naming each missing variable (never a value),
 *   `AUTH_BCRYPT_INVALID` for a malformed bcrypt hash.
 */
export async function createAccessController(plan: Plan, options: AccessControllerOptions): Promise<AccessController> {
  const log = options.log.child({ component: 'auth' });
  const users = resolveUsers(plan.security.users, options.env);
  const inheritedKey =
    options.previous instanceof PlanAccessController ? (options.previous.randomTokenKey ?? undefined) : undefined;
  const tokens = plan.security.token.enabled
    ? new TokenService(plan.security.token, { env: options.env, log, inheritedKey, now: options.now })
    : null;
  const throttlePlan = plan.security.loginThrottle ?? DEFAULT_LOGIN_THROTTLE;
  const throttle = throttlePlan.enabled ? new LoginThrottle(throttlePlan, options.now) : null;
  const checks = options.checks ?? new PasswordChecks();
  const decoyHash = await createDecoyHash(users);
  const basic = new BasicAuthenticator(users, {
    log,
    now: options.now,
    checks,
    throttle,
    decoyHash,
    refusalDelayMs: options.refusalDelayMs,
  });
  log.debug(
    {
      users: users.size,
      token: tokens !== null,
      loginThrottle: throttle !== null,
      concurrentChecks: checks.concurrency,
    },
    'access controller ready',
  );
  return new PlanAccessController(plan, { users, basic, tokens, log, now: options.now });
}
