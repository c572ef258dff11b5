/**
 * The auth boundary's public types. The HTTP layer builds an {@link AuthRequest} from each
 * request, names what the request wants as an {@link AuthScope}, and asks the
 * {@link AccessController} before touching a repository.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Action } from '../../compiler/plan.ts';

/** What auth needs to know about an HTTP request; nothing else of the request is read. */
export interface AuthRequest {
  readonly headers: IncomingHttpHeaders;
  /** The Host header as the client sent it (with its port): the token realm is built from it. */
  readonly host: string;
  readonly protocol: 'http' | 'https';
  /** Client address, for the log of failed attempts. */
  readonly ip: string;
  /**
   * The connection the request came on (its socket), when there is one: a keep-alive client
   * sends the same credentials on every request of a connection, and the controller remembers
   * per connection what they were found to be. Any object that lives as long as the connection.
   */
  readonly connection?: object;
}

/** Access to one image: `name` as the client sees it, `repository` the plan repository it routes to. */
export interface RepositoryScope {
  /** e.g. `docker-hub/library/alpine`: what a Bearer token's access claims name. */
  readonly name: string;
  /** Key of `Plan.repositories`: what permissions and anonymous access are written against. */
  readonly repository: string;
  readonly actions: readonly Action[];
}

/** `GET /v2/`: the ping, answered for the repositories this listener routes to. */
export interface BaseScope {
  readonly base: true;
  readonly repositories: readonly string[];
  /**
   * The ping itself (not a listing authorized like it): an anonymous ping is challenged whenever
   * users are configured, so clients learn how to authenticate (see the controller).
   */
  readonly ping?: boolean;
}

export type AuthScope = RepositoryScope | BaseScope;

/** Who a request runs as. */
export interface Principal {
  /** The authenticated user name, or null for an anonymous request. */
  readonly user: string | null;
  /**
   * For an anonymous ping answered 200 on a registry with users and Basic auth only: the Basic
   * challenge to send along (RFC 7235 allows it on any response), so clients that read it there
   * (skopeo, podman) send their credentials when they push.
   */
  readonly advertise?: string;
}

/** The query of `GET /-/token` (Docker token protocol); `scope` may repeat. */
export interface TokenQuery {
  readonly service?: string;
  readonly scope?: readonly string[];
  readonly account?: string;
}

/** The body of a successful `GET /-/token`: `token` and `access_token` are the same JWT. */
export interface TokenResponse {
  readonly token: string;
  readonly access_token: string;
  /** Seconds. */
  readonly expires_in: number;
  /** RFC 3339. */
  readonly issued_at: string;
}

/**
 * Decides who a request is and what it may do. One instance per compiled plan: a reload
 * builds a new controller (new users, new keys) and closes the old one.
 */
export interface AccessController {
  /**
   * Authenticates the request (anonymous, `Basic`, or a `Bearer` token from {@link issueToken}) and
   * checks the scope. Resolves the principal when every requested action is allowed.
   *
   * @throws RegistryError `UNAUTHORIZED` (401, with a `WWW-Authenticate` challenge) when
   *   credentials are missing and anonymous access does not cover the scope, or when credentials
   *   are wrong, expired or forged; `DENIED` (403) when an authenticated user lacks a permission.
   */
  authorize(request: AuthRequest, scope: AuthScope): Promise<Principal>;

  /**
   * Serves `GET /-/token`: authenticates Basic credentials (or none: anonymous) and signs a
   * short-lived JWT granting, per requested `repository:<name>:<actions>` scope, the intersection
   * of the requested and the allowed actions. `resolve` maps a client-visible name to the plan
   * repository that serves it (undefined: nothing is granted for that name).
   *
   * @throws RegistryError `UNAUTHORIZED` for wrong credentials, `DENIED` for a foreign service or
   *   account, `UNSUPPORTED` when tokens are disabled in the plan.
   */
  issueToken(
    request: AuthRequest,
    query: TokenQuery,
    resolve: (name: string) => string | undefined,
  ): Promise<TokenResponse>;

  /**
   * Whether `principal` (as returned by {@link authorize}) may do `action` on `repository` by the
   * plan's rules: for filtering lists such as `/v2/_catalog` after the request itself was
   * authorized (e.g. with the `/v2/` base scope). Synchronous and cheap (memoised lookups).
   * A Bearer principal is judged by its user's permissions, not narrowed to its token's scopes.
   * Optional so that fakes written before it existed still type-check.
   */
  can?(principal: Principal, repository: string, action: Action): boolean;

  /**
   * True when the plan has a user of this name: the web UI's sessions name a user, and one that a
   * reload removed is signed out. Optional like {@link can}.
   */
  knows?(user: string): boolean;

  /** Drops caches. Idempotent; the controller must not be used afterwards. */
  close(): Promise<void>;
}
