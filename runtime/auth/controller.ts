/**
 * The access controller: turns a request's credentials into a principal and checks it against
 * the plan's permissions. Credentials come in three forms, all accepted on every request:
 * none (anonymous), `Basic` (verified once, then cached), and `Bearer` (a JWT from our own token
 * endpoint). Bad credentials are always a 401, even where anonymous access would have sufficed:
 * a client must learn its password is wrong rather than silently run as anonymous. Basic
 * credentials that could not be checked (too many failed logins from the address or for the
 * name, or too many checks queued) are a 429 with `Retry-After`, here and at the token endpoint.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Action, Plan } from '../../compiler/plan.ts';
import { RegistryError } from '../oci/errors.ts';
import { AccessPolicy, coversAll } from './access.ts';
import { credentialsAfter, isBearerToken, isEmptyBasicPair } from './authorization.ts';
import type { BasicAuthenticator, BasicResult } from './basic.ts';
import { type BearerError, formatBasicChallenge, formatBearerChallenge, formatScope, tokenRealm } from './challenge.ts';
import { ConnectionMemos } from './connection-memo.ts';
import { parseScopes, type TokenAccess, type TokenService, type TokenVerdict, type VerifiedToken } from './token.ts';
import type { AccessController, AuthRequest, AuthScope, Principal, TokenQuery, TokenResponse } from './types.ts';
import type { ResolvedUser } from './users.ts';

/** Most repository scopes honoured in one token request; the rest are ignored. */
const MAX_SCOPES = 100;

/**
 * Who a request is. Built once per user (Basic) or per verified token (Bearer) and reused for
 * every request that presents the same credentials, together with the {@link Principal} handed
 * back, so an authenticated request allocates nothing to find out who it is.
 */
type Authenticated =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'basic'; readonly user: ResolvedUser; readonly principal: Principal }
  | {
      readonly kind: 'bearer';
      readonly user: ResolvedUser | null;
      readonly token: VerifiedToken;
      readonly principal: Principal;
    }
  | { readonly kind: 'invalid'; readonly scheme: 'basic' | 'bearer' | 'other' }
  /** A Basic check that did not run (too many failures, or too many checks queued): a 429. */
  | { readonly kind: 'throttled'; readonly reason: 'throttled' | 'busy'; readonly retryAfterMs: number };

const ANONYMOUS: Authenticated = { kind: 'anonymous' };
const INVALID_BASIC: Authenticated = { kind: 'invalid', scheme: 'basic' };
const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ user: null });

/** What a controller is assembled from; secrets already resolved by `createAccessController`. */
export interface ControllerParts {
  readonly users: ReadonlyMap<string, ResolvedUser>;
  readonly basic: BasicAuthenticator;
  /** null when tokens are disabled in the plan. */
  readonly tokens: TokenService | null;
  readonly log: FastifyBaseLogger;
  /** Clock, for tests (default `Date.now`). */
  readonly now?: () => number;
}

/** The {@link AccessController} of one plan; built by `createAccessController`. */
export class PlanAccessController implements AccessController {
  readonly #plan: Plan;
  readonly #policy: AccessPolicy;
  readonly #parts: ControllerParts;
  /** One `basic` identity per user (bounded by the plan's users). */
  readonly #basicIdentities = new Map<ResolvedUser, Authenticated>();
  /** One `bearer` identity per verified token, kept as long as the token service caches the token. */
  readonly #bearerIdentities = new WeakMap<VerifiedToken, Authenticated>();
  /** What each keep-alive connection's credentials proved to be (connection-memo.ts). */
  readonly #connections: ConnectionMemos<Authenticated>;
  /** The anonymous principal of a ping that carries the Basic challenge (see `authorize`). */
  readonly #advertised: Principal;

  constructor(plan: Plan, parts: ControllerParts) {
    this.#plan = plan;
    this.#advertised = Object.freeze({ user: null, advertise: formatBasicChallenge(plan.security.realm) });
    this.#policy = new AccessPolicy(plan);
    this.#parts = parts;
    this.#connections = new ConnectionMemos(parts.now ?? (() => Date.now()));
  }

  async authorize(request: AuthRequest, scope: AuthScope): Promise<Principal> {
    let who = this.#remembered(request);
    if (who === undefined) {
      who = this.#authenticateCached(request) ?? (await this.#authenticate(request));
      this.#remember(request, who);
    }
    if (who.kind === 'throttled') throw tooManyLogins(who);
    if (who.kind === 'invalid') {
      throw this.#unauthorized(request, scope, who.scheme === 'bearer' ? 'invalid_token' : undefined);
    }
    if ('base' in scope) {
      if (who.kind === 'anonymous') {
        // With users configured, an anonymous ping gets the challenge even where anonymous may
        // pull: clients (docker, skopeo, podman) learn from the ping alone how to authenticate,
        // and one that got 200 never sends its credentials for a push. Anonymous pulls still
        // work: without credentials they answer the challenge anonymously.
        const users = scope.ping === true && this.#parts.users.size > 0;
        // Bearer: the 401 costs an anonymous client one anonymous token, and every client then
        // knows where to log in. Basic: docker refuses to go on after a Basic 401 without
        // credentials, so the ping stays 200 and carries the challenge for those who read it.
        if (users && this.#parts.tokens !== null) throw this.#unauthorized(request, scope);
        if (this.#policy.anonymousCanPullAny(scope.repositories)) return users ? this.#advertised : ANONYMOUS_PRINCIPAL;
        throw this.#unauthorized(request, scope);
      }
      if (who.kind === 'bearer' && who.user === null) {
        // An anonymous token: the challenge was answered; what it may do is checked per request.
        if (this.#policy.anonymousCanPullAny(scope.repositories)) return ANONYMOUS_PRINCIPAL;
        throw this.#unauthorized(request, scope);
      }
      return who.principal;
    }
    const anonymous = this.#policy.anonymous(scope.repository);
    if (who.kind === 'anonymous') {
      if (coversAll(anonymous, scope.actions)) return ANONYMOUS_PRINCIPAL;
      throw this.#unauthorized(request, scope);
    }
    const allowed = this.#policy.allowed(who.user, scope.repository);
    if (who.kind === 'basic') {
      if (coversAll(allowed, scope.actions)) return who.principal;
      throw this.#denied(scope, allowed);
    }
    // Bearer: what the token grants for this name, still allowed now (a reload may have taken
    // rights away while the token lives), plus whatever anonymous may do anyway.
    if (tokenCovers(who.token, scope.name, scope.actions, anonymous, allowed)) return who.principal;
    if (who.user !== null && !coversAll(allowed, scope.actions)) throw this.#denied(scope, allowed);
    throw this.#unauthorized(request, scope, 'insufficient_scope');
  }

  async issueToken(
    request: AuthRequest,
    query: TokenQuery,
    resolve: (name: string) => string | undefined,
  ): Promise<TokenResponse> {
    const tokens = this.#parts.tokens;
    if (tokens === null) {
      throw new RegistryError('UNSUPPORTED', { message: 'token authentication is disabled: use Basic credentials' });
    }
    if (query.service !== undefined && query.service !== '' && query.service !== tokens.service) {
      throw new RegistryError('DENIED', { message: `this registry issues tokens for service "${tokens.service}"` });
    }
    let user: ResolvedUser | null = null;
    const header = authorizationOf(request);
    const basic = header === undefined ? undefined : credentialsAfter(header, 'basic');
    const encoded = basic === undefined || isEmptyBasicPair(basic) ? undefined : basic;
    if (encoded !== undefined) {
      const who = await this.#basic(encoded, request.ip);
      if (who.kind === 'throttled') throw tooManyLogins(who);
      if (who.kind !== 'basic') {
        throw new RegistryError('UNAUTHORIZED', {
          message: 'incorrect username or password',
          headers: { 'WWW-Authenticate': formatBasicChallenge(this.#plan.security.realm) },
        });
      }
      user = who.user;
    }
    if (user !== null && query.account !== undefined && query.account !== '' && query.account !== user.name) {
      throw new RegistryError('DENIED', { message: 'the account does not match the authenticated user' });
    }
    const access = new Map<string, Set<Action>>();
    const requested = parseScopes(query.scope ?? []).filter((scope) => scope.type === 'repository');
    for (const scope of requested.slice(0, MAX_SCOPES)) {
      const repository = resolve(scope.name);
      const allowed = repository === undefined ? undefined : this.#policy.allowed(user, repository);
      const granted = access.get(scope.name) ?? new Set<Action>();
      for (const action of scope.actions) if (allowed?.has(action)) granted.add(action);
      access.set(scope.name, granted);
    }
    const claims: TokenAccess[] = [...access].map(([name, actions]) => ({
      type: 'repository',
      name,
      actions: [...actions],
    }));
    const signed = await tokens.sign(user?.name ?? null, claims);
    this.#parts.log.debug({ user: user?.name ?? null, access: claims, ip: request.ip }, 'token issued');
    return {
      token: signed.token,
      access_token: signed.token,
      expires_in: signed.expiresIn,
      issued_at: signed.issuedAt.toISOString(),
    };
  }

  /** The token service's per-process random key (null: none, or a shared key): see `previous`. */
  get randomTokenKey(): Uint8Array | null {
    return this.#parts.tokens?.randomKey ?? null;
  }

  can(principal: Principal, repository: string, action: Action): boolean {
    const user = principal.user === null ? null : this.#parts.users.get(principal.user);
    if (user === undefined) return false;
    return this.#policy.allowed(user, repository).has(action);
  }

  knows(user: string): boolean {
    return this.#parts.users.has(user);
  }

  async close(): Promise<void> {
    this.#parts.basic.clear();
    this.#parts.tokens?.clear();
  }

  /** What the request's connection proved to be with these very credentials, if still valid. */
  #remembered(request: AuthRequest): Authenticated | undefined {
    if (request.connection === undefined) return undefined;
    const header = authorizationOf(request);
    return header === undefined ? undefined : this.#connections.recall(request.connection, header);
  }

  /** Remembers a verified identity for the request's connection (never a refusal or anonymous). */
  #remember(request: AuthRequest, who: Authenticated): void {
    if (request.connection === undefined || (who.kind !== 'basic' && who.kind !== 'bearer')) return;
    const expiresAtMs = who.kind === 'bearer' ? who.token.expiresAtMs : undefined;
    this.#connections.remember(request.connection, authorizationOf(request)!, who, {
      secretFrom: who.kind === 'bearer' ? 'signature' : 'start',
      ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
    });
  }

  /**
   * The request's identity without waiting, when that needs no new verification: no credentials,
   * or credentials whose check is cached and concluded (the common case: a client re-sending what
   * it logged in with). Undefined sends the request through {@link #authenticate}. Reads the
   * header with {@link credentialsAfter} only (no regular expression, no decoding): credentials
   * that would fail the strict checks of the slow path were never verified, so never found.
   */
  #authenticateCached(request: AuthRequest): Authenticated | undefined {
    const header = authorizationOf(request);
    if (header === undefined) return ANONYMOUS;
    const encoded = credentialsAfter(header, 'basic');
    if (encoded !== undefined) {
      if (isEmptyBasicPair(encoded)) return ANONYMOUS;
      const result = this.#parts.basic.verifyCached(encoded, request.ip);
      return result === undefined ? undefined : this.#fromBasic(result);
    }
    const token = credentialsAfter(header, 'bearer');
    if (token !== undefined) {
      const verdict = this.#parts.tokens?.verifyCached(token);
      return verdict === undefined ? undefined : this.#fromVerdict(verdict, request.ip);
    }
    return header.trim() === '' ? ANONYMOUS : undefined;
  }

  async #authenticate(request: AuthRequest): Promise<Authenticated> {
    const header = authorizationOf(request);
    if (header === undefined || header.trim() === '') return ANONYMOUS;
    const encoded = credentialsAfter(header, 'basic');
    if (encoded !== undefined) return isEmptyBasicPair(encoded) ? ANONYMOUS : this.#basic(encoded, request.ip);
    const token = credentialsAfter(header, 'bearer');
    const bearer = token !== undefined && isBearerToken(token);
    if (bearer && this.#parts.tokens !== null) {
      return this.#fromVerdict(await this.#parts.tokens.verify(token), request.ip);
    }
    this.#parts.log.info({ ip: request.ip, scheme: header.split(/[ \t]/, 1)[0] }, 'unsupported authorization scheme');
    return { kind: 'invalid', scheme: bearer ? 'bearer' : 'other' };
  }

  /** What a token verdict makes of the request; refusals are logged (never the token). */
  #fromVerdict(verdict: TokenVerdict, ip: string): Authenticated {
    if (!verdict.ok) {
      this.#parts.log.info({ ip, reason: verdict.reason }, 'bearer token refused');
      return { kind: 'invalid', scheme: 'bearer' };
    }
    const known = this.#bearerIdentities.get(verdict.token);
    if (known !== undefined) return known;
    const subject = verdict.token.subject;
    const user = subject === null ? null : (this.#parts.users.get(subject) ?? null);
    if (subject !== null && user === null) {
      this.#parts.log.info({ ip, user: subject, reason: 'unknown user' }, 'bearer token refused');
      return { kind: 'invalid', scheme: 'bearer' };
    }
    const who: Authenticated = {
      kind: 'bearer',
      user,
      token: verdict.token,
      principal: user === null ? ANONYMOUS_PRINCIPAL : Object.freeze({ user: user.name }),
    };
    this.#bearerIdentities.set(verdict.token, who);
    return who;
  }

  /** What a Basic check makes of the request: the user's one identity, or a refusal. */
  #fromBasic(result: BasicResult): Authenticated {
    if (!result.ok) {
      if (!('retryAfterMs' in result)) return INVALID_BASIC;
      return { kind: 'throttled', reason: result.reason, retryAfterMs: result.retryAfterMs };
    }
    let who = this.#basicIdentities.get(result.user);
    if (who === undefined) {
      who = { kind: 'basic', user: result.user, principal: Object.freeze({ user: result.user.name }) };
      this.#basicIdentities.set(result.user, who);
    }
    return who;
  }

  async #basic(encoded: string, ip: string): Promise<Authenticated> {
    return this.#fromBasic(await this.#parts.basic.verify(encoded, ip));
  }

  #unauthorized(request: AuthRequest, scope: AuthScope, error?: BearerError): RegistryError {
    const tokens = this.#parts.tokens;
    const challenge =
      tokens === null
        ? formatBasicChallenge(this.#plan.security.realm)
        : formatBearerChallenge({
            realm: tokenRealm(request),
            service: tokens.service,
            scope: 'base' in scope ? undefined : formatScope(scope.name, scope.actions),
            error,
          });
    const detail =
      'base' in scope ? undefined : [{ type: 'repository', name: scope.name, actions: [...scope.actions] }];
    return new RegistryError('UNAUTHORIZED', { detail, headers: { 'WWW-Authenticate': challenge } });
  }

  #denied(scope: Exclude<AuthScope, { base: true }>, allowed: ReadonlySet<Action>): RegistryError {
    const missing = scope.actions.filter((action) => !allowed.has(action));
    return new RegistryError('DENIED', { detail: [{ type: 'repository', name: scope.name, actions: missing }] });
  }
}

/**
 * The 429 of a login that was not checked, in the OCI error body, with `Retry-After` in whole
 * seconds (at least 1).
 */
function tooManyLogins(who: Extract<Authenticated, { kind: 'throttled' }>): RegistryError {
  const seconds = Math.max(1, Math.ceil(who.retryAfterMs / 1000));
  const what = who.reason === 'throttled' ? 'too many failed logins' : 'too many logins being checked';
  return new RegistryError('TOOMANYREQUESTS', {
    message: `${what}: try again in ${seconds} s`,
    detail: { retryAfterSeconds: seconds },
    headers: { 'Retry-After': String(seconds) },
  });
}

/**
 * True when a token's claims for `name`, still allowed to its user now, together with what
 * anonymous may do anyway, cover every wanted action.
 */
function tokenCovers(
  token: VerifiedToken,
  name: string,
  wanted: readonly Action[],
  anonymous: ReadonlySet<Action>,
  allowed: ReadonlySet<Action>,
): boolean {
  const claimed = token.access.get(name);
  for (const action of wanted) {
    if (!anonymous.has(action) && !(claimed?.has(action) === true && allowed.has(action))) return false;
  }
  return true;
}

function authorizationOf(request: AuthRequest): string | undefined {
  const value = request.headers.authorization;
  return Array.isArray(value) ? value[0] : value;
}
