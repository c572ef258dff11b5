/**
 * Authentication towards an upstream registry: the `WWW-Authenticate` challenge parser, the
 * Bearer token flow (as served by auth.docker.io, distribution's `auth.token`, Harbor …), and a
 * per-client token cache.
 *
 * The flow: a request is first sent with whatever we already hold for its scope (a cached token, or
 * Basic credentials once the upstream asked for Basic). On a 401 the challenge says what to do:
 * `Basic` → resend with the configured credentials; `Bearer realm=…,service=…,scope=…` → GET the
 * realm with `service` and `scope` (with Basic credentials when configured, anonymously otherwise),
 * cache the token until shortly before `expires_in`, resend. A 401 with a cached token drops it and
 * runs the flow once more (the token was revoked or expired early).
 */
import type { Dispatcher } from 'undici';
import { fromNetworkError, type NetworkContext, UpstreamError, type UpstreamErrorCode } from './errors.ts';
import { discard, parseJson, readBounded } from './responses.ts';

/** One parsed `WWW-Authenticate` challenge. */
export interface AuthChallenge {
  /** Lower-cased scheme: `bearer`, `basic`. */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` value into its challenges (RFC 7235: `scheme k=v, k="quoted", …`,
 * several challenges separated by commas).
 */
export function parseChallenges(header: string | string[] | undefined): AuthChallenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  for (const value of values) {
    let i = 0;
    const skip = (chars: string) => {
      while (i < value.length && chars.includes(value[i]!)) i++;
    };
    const readToken = () => {
      const from = i;
      while (i < value.length && !' \t,="'.includes(value[i]!)) i++;
      return value.slice(from, i);
    };
    while (i < value.length) {
      skip(' \t,');
      const token = readToken();
      if (token === '') {
        i++;
        continue;
      }
      skip(' \t');
      if (value[i] !== '=') {
        challenges.push({ scheme: token.toLowerCase(), params: {} });
        continue;
      }
      i++;
      skip(' \t');
      let param = '';
      if (value[i] === '"') {
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < value.length) i++;
          param += value[i];
          i++;
        }
        i++;
      } else {
        param = readToken();
      }
      const current = challenges[challenges.length - 1];
      if (current !== undefined) current.params[token.toLowerCase()] = param;
    }
  }
  return challenges;
}

/** Upstream credentials, already resolved from their env references. */
export interface UpstreamCredentials {
  readonly username: string;
  readonly password: string;
}

/** The `Authorization` value for Basic credentials. */
export function basicAuthorization(credentials: UpstreamCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Tokens are dropped this long before the upstream says they expire, to absorb clock skew. */
const EXPIRY_MARGIN_MS = 10_000;
/** `expires_in` when the token server gives none (the Docker token spec's default). */
const DEFAULT_EXPIRES_IN_S = 60;
/** Bound on the token cache (one entry per scope); the oldest entries go first. */
const MAX_TOKENS = 1000;
/** Largest token response read (a JWT with many scopes is a few KiB). */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/** Options of {@link TokenAuth}. */
export interface TokenAuthOptions {
  readonly credentials: UpstreamCredentials | null;
  /** Picks the dispatcher for a URL (the realm may be on another host, or behind the proxy). */
  readonly dispatcherFor: (url: URL) => Dispatcher;
  readonly timeoutMs: number;
  /** What a network failure towards `url` should be reported with (the proxy it went through). */
  readonly networkContext?: (url: URL) => NetworkContext;
  readonly now?: () => number;
}

/** Why a 401/403 stood after the flow: {@link TokenAuth.refusal}. */
export interface AuthRefusal {
  readonly code: Extract<UpstreamErrorCode, 'UPSTREAM_UNAUTHORIZED' | 'UPSTREAM_CREDENTIALS_REFUSED'>;
  /** In a few words, without secrets: `401 from the registry`, `401 to an anonymous request`. */
  readonly reason: string;
}

/**
 * Holds the tokens of one upstream, keyed by `service` + `scope`, and fetches new ones from the
 * challenge's realm. Concurrent fetches of the same token are coalesced.
 */
export class TokenAuth {
  readonly #options: TokenAuthOptions;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();
  /** Set once the upstream asked for Basic: later requests send credentials up front. */
  #basic = false;
  /** The last Bearer challenge's realm and service, to ask for a token before the first 401. */
  #bearer: { realm: string; service: string | undefined } | undefined;

  constructor(options: TokenAuthOptions) {
    this.#options = options;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** The Authorization header to send up front for `scope`, if we hold anything for it. */
  authorizationFor(scope: string | undefined): string | undefined {
    if (this.#bearer !== undefined) {
      const cached = this.#tokens.get(this.#key(this.#bearer.service, scope));
      if (cached !== undefined && cached.expiresAt > this.#now()) return `Bearer ${cached.token}`;
    }
    if (this.#basic && this.#options.credentials !== null) return basicAuthorization(this.#options.credentials);
    return undefined;
  }

  /**
   * Handles a 401: works out from the challenge a new Authorization for `scope`, or returns
   * undefined when there is nothing new to try (then the 401 stands). `sent` is the value the
   * failed request carried, so a rejected token is dropped rather than resent.
   */
  async answer(challengeHeader: string | string[] | undefined, scope: string | undefined, sent?: string) {
    const challenges = parseChallenges(challengeHeader);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm !== undefined) {
      const service = bearer.params.service;
      this.#bearer = { realm: bearer.params.realm, service };
      const wanted = bearer.params.scope ?? scope;
      const key = this.#key(service, wanted);
      const cached = this.#tokens.get(key);
      if (cached !== undefined && sent === `Bearer ${cached.token}`) this.#tokens.delete(key);
      const token = await this.#fetchToken(bearer.params.realm, service, wanted, key);
      const authorization = `Bearer ${token}`;
      return authorization === sent ? undefined : authorization;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.#options.credentials !== null) {
      this.#basic = true;
      const authorization = basicAuthorization(this.#options.credentials);
      return authorization === sent ? undefined : authorization;
    }
    return undefined;
  }

  /**
   * Says who refused a 401/403 that stood after {@link answer}, given the Authorization the request
   * carried (`sent`): our Basic credentials answered 401 → they were refused; an anonymous request,
   * or one with a token, → no access to this image (Docker Hub's answer for images that do not
   * exist), with what the upstream asked for when we have no credentials to give it.
   */
  refusal(status: number, challengeHeader: string | string[] | undefined, sent: string | undefined): AuthRefusal {
    const credentials = this.#options.credentials !== null;
    if (sent?.startsWith('Basic ')) {
      return status === 401
        ? { code: 'UPSTREAM_CREDENTIALS_REFUSED', reason: `${status} from the registry` }
        : { code: 'UPSTREAM_UNAUTHORIZED', reason: `${status} with our credentials` };
    }
    if (sent?.startsWith('Bearer ')) {
      const issued = credentials ? ' issued for our credentials' : ' issued anonymously';
      return { code: 'UPSTREAM_UNAUTHORIZED', reason: `${status} with a token${issued}` };
    }
    const asksBasic = parseChallenges(challengeHeader).some((c) => c.scheme === 'basic');
    return {
      code: 'UPSTREAM_UNAUTHORIZED',
      reason:
        asksBasic && !credentials
          ? `${status}: it asks for credentials and none are configured`
          : `${status} to an anonymous request`,
    };
  }

  #key(service: string | undefined, scope: string | undefined): string {
    return `${service ?? ''}\u0000${scope ?? ''}`;
  }

  #fetchToken(realm: string, service: string | undefined, scope: string | undefined, key: string): Promise<string> {
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.#now()) return Promise.resolve(cached.token);
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    const promise = this.#requestToken(realm, service, scope, key).finally(() => this.#pending.delete(key));
    this.#pending.set(key, promise);
    return promise;
  }

  async #requestToken(realm: string, service: string | undefined, scope: string | undefined, key: string) {
    let url: URL;
    try {
      url = new URL(realm);
    } catch (error) {
      throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `token realm is not a URL: ${realm}`, { cause: error });
    }
    if (service !== undefined) url.searchParams.set('service', service);
    if (scope !== undefined) for (const s of scope.split(' ')) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.credentials !== null) headers.authorization = basicAuthorization(this.#options.credentials);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#options.dispatcherFor(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      });
    } catch (error) {
      const peer = `the token service ${url.origin}${url.pathname}`;
      throw fromNetworkError(error, `token request to ${url.origin}`, { ...this.#options.networkContext?.(url), peer });
    }
    const what = `token service ${url.origin}${url.pathname}`;
    const status = response.statusCode;
    if (status === 401 || status === 403) {
      await discard(response.body);
      // Refused with our credentials: they are wrong. Anonymously: the image may just not be public.
      if (this.#options.credentials !== null) {
        const reason = `${status} from the ${what}`;
        throw new UpstreamError('UPSTREAM_CREDENTIALS_REFUSED', `${what} refused our credentials (${status})`, {
          status,
          reason,
        });
      }
      const reason = `the ${what} refused an anonymous token (${status})`;
      throw new UpstreamError('UPSTREAM_UNAUTHORIZED', reason, { status, reason });
    }
    if (status !== 200) {
      await discard(response.body);
      throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${what} answered ${status}`, {
        status,
        reason: `the ${what} answered ${status}`,
      });
    }
    const parsed = parseJson(await readBounded(response.body, MAX_TOKEN_RESPONSE_BYTES, what), what);
    const body = (parsed ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `the ${what} sent no token`);
    }
    const expiresIn =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_EXPIRES_IN_S;
    if (this.#tokens.size >= MAX_TOKENS) this.#tokens.delete(this.#tokens.keys().next().value!);
    this.#tokens.set(key, { token, expiresAt: this.#now() + Math.max(0, expiresIn * 1000 - EXPIRY_MARGIN_MS) });
    return token;
  }
}
