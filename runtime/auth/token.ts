/**
 * The Docker token protocol's tokens: short-lived HS256 JWTs signed and checked by this registry
 * alone (it is both the authorization server and the resource server).
 *
 * Claims: `iss` (plan issuer), `sub` (user; absent for anonymous), `aud` (plan service), `iat`,
 * `exp` (iat + ttl), and `access: [{ type: 'repository', name, actions }]` where `name` is the
 * image name as the client sees it. Nothing else: the client sends the token with every request,
 * so every byte counts (`typ`, an `nbf` equal to `iat` and a `jti` nothing reads would add about
 * 100 characters to the 280 of a one-repository token). A token carrying `nbf` is still honoured.
 *
 * The key is the plan's `signingKey` secret (shared by replicas) or 32 random bytes made per
 * controller (one replica; a reload or restart invalidates tokens, and clients simply fetch a new
 * one on the 401).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Action, SecurityPlan } from '../../compiler/plan.ts';
import { readSecret } from '../secrets.ts';
import { CredentialCache, type SettlingCheck, settling } from './credential-cache.ts';
import { AuthSetupError } from './users.ts';

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** One entry of a token's `access` claim. */
export interface TokenAccess {
  readonly type: 'repository';
  readonly name: string;
  readonly actions: readonly Action[];
}

/** A requested scope: `repository:<name>:<actions>` parsed; other resource types are kept by type only. */
export interface RequestedScope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly Action[];
}

/**
 * Parses `scope` query values. Each value may hold several scopes separated by spaces (RFC 6749);
 * the name is everything between the first and the last colon, so names with a port-like colon
 * survive; `*` stands for every action; unknown actions are dropped; a resource class
 * (`repository(plugin)`) is ignored. Malformed scopes are skipped.
 */
export function parseScopes(values: readonly string[]): RequestedScope[] {
  const scopes: RequestedScope[] = [];
  for (const value of values) {
    for (const item of value.split(' ')) {
      const first = item.indexOf(':');
      const last = item.lastIndexOf(':');
      if (first <= 0 || last === first) continue;
      const type = item.slice(0, first).replace(/\(.*\)$/, '');
      const name = item.slice(first + 1, last);
      if (name === '') continue;
      const words = item.slice(last + 1).split(',');
      const actions = words.includes('*') ? ACTIONS : ACTIONS.filter((action) => words.includes(action));
      scopes.push({ type, name, actions });
    }
  }
  return scopes;
}

/** A token that passed signature, issuer, audience and time checks. */
export interface VerifiedToken {
  /** The user it was issued to, or null for an anonymous token. */
  readonly subject: string | null;
  /** Granted actions by client-visible image name. */
  readonly access: ReadonlyMap<string, ReadonlySet<Action>>;
  /** When it stops being accepted (its `exp` plus the clock tolerance), ms since the epoch. */
  readonly expiresAtMs: number;
}

/** The outcome of checking a Bearer token: its claims, or why it was refused (a jose error code). */
export type TokenVerdict =
  | { readonly ok: true; readonly token: VerifiedToken }
  | { readonly ok: false; readonly reason: string };

/** Where a {@link TokenService} finds its key, logs, and tells the time. */
export interface TokenServiceOptions {
  readonly env: NodeJS.ProcessEnv;
  /**
   * The random key of the service this one replaces (a reload), used when the plan names no
   * signing key: tokens issued before the reload stay valid instead of failing mid-pull.
   */
  readonly inheritedKey?: Uint8Array;
  readonly log: FastifyBaseLogger;
  readonly now?: () => number;
}

/** Leeway for `nbf`/`exp` between replicas whose clocks differ a little, seconds. */
const CLOCK_TOLERANCE_S = 10;

/**
 * One cached verification: the token's signed part (`header.payload`, kept to compare) and the
 * check, shared by concurrent requests and readable synchronously once settled.
 */
interface CachedCheck {
  readonly signed: string;
  readonly check: SettlingCheck<TokenVerdict>;
}

/**
 * Signs and verifies tokens for one plan. Verified tokens are cached until they expire (at most
 * 5 min), failures for 10 s.
 *
 * The cache is keyed by a keyed hash of the token's *signature* alone, the one secret part of a
 * JWT: its header and claims are base64url JSON that anyone holding the token can read and nobody
 * without the key can re-sign. An entry keeps that signed part and answers only a token whose
 * signed part is identical, so it answers for exactly the token it verified, while the per-request
 * hash covers 43 characters instead of the whole token (about 280 for one repository scope).
 */
export class TokenService {
  readonly #plan: SecurityPlan['token'];
  readonly #key: Uint8Array;
  readonly #now: () => number;
  readonly #cache: CredentialCache<CachedCheck>;

  /** @throws AuthSetupError `AUTH_ENV_MISSING` when the signing key's variable is unset or empty. */
  constructor(plan: SecurityPlan['token'], options: TokenServiceOptions) {
    this.#plan = plan;
    this.#now = options.now ?? (() => Date.now());
    this.#key = resolveSigningKey(plan, options);
    this.#cache = new CredentialCache({ maxEntries: 10_000, ttlMs: 5 * 60_000, failureTtlMs: 10_000, now: this.#now });
  }

  /** The per-process random key, for a successor to inherit; null when the plan names a shared key. */
  get randomKey(): Uint8Array | null {
    return this.#plan.signingKey === null ? this.#key : null;
  }

  /** The audience of every token, and the `service` of every challenge. */
  get service(): string {
    return this.#plan.service;
  }

  /** Signs a token for `subject` (null = anonymous) granting `access`. */
  async sign(
    subject: string | null,
    access: readonly TokenAccess[],
  ): Promise<{ token: string; issuedAt: Date; expiresIn: number }> {
    const issuedAtMs = this.#now();
    const iat = Math.floor(issuedAtMs / 1000);
    const expiresIn = Math.max(1, Math.floor(this.#plan.ttlMs / 1000));
    // Imported on first use: only plans with tokens need jose, and `serve` should not load it otherwise.
    const { SignJWT } = await import('jose');
    const jwt = new SignJWT({ access: access.map((entry) => ({ ...entry, actions: [...entry.actions] })) })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(this.#plan.issuer)
      .setAudience(this.#plan.service)
      .setIssuedAt(iat)
      .setExpirationTime(iat + expiresIn);
    if (subject !== null) jwt.setSubject(subject);
    return { token: await jwt.sign(this.#key), issuedAt: new Date(iat * 1000), expiresIn };
  }

  /**
   * Checks a token; concurrent checks of one token share one verification, and the verdict is
   * cached (see the class). Never rejects for a bad token: resolves `{ ok: false }`.
   */
  async verify(token: string): Promise<TokenVerdict> {
    const dot = token.lastIndexOf('.');
    const key = this.#cache.keyOf(signatureOf(token, dot));
    const signed = signedPartOf(token, dot);
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.signed === signed) return cached.check.promise;
    // A copy: a slice would keep the whole token (signature included) alive with the entry.
    const copy = Buffer.from(signed, 'utf16le').toString('utf16le');
    const entry = { signed: copy, check: settling(this.#verify(token, key)) };
    this.#cache.set(key, entry);
    return entry.check.promise;
  }

  /**
   * The cached verdict on a token, synchronously, when an earlier verification of it has
   * concluded and is still cached (an accepted token never past its expiry: its entry expires
   * with it); undefined otherwise (then call {@link verify}). The verdict is the cached object
   * itself, the same on every call (callers may memoise what they derive from it), so a hit
   * allocates nothing.
   */
  verifyCached(token: string): TokenVerdict | undefined {
    const dot = token.lastIndexOf('.');
    const cached = this.#cache.get(this.#cache.keyOf(signatureOf(token, dot)));
    return cached !== undefined && cached.signed === signedPartOf(token, dot) ? cached.check.result : undefined;
  }

  clear(): void {
    this.#cache.clear();
  }

  /**
   * Verifies a token and sets the life of its cache entry (`key`) before the verdict settles, so
   * {@link verifyCached} never sees an accepted token with a life longer than the token's. Both
   * adjustments only ever shorten a life: should another token with the same signature have taken
   * the slot meanwhile, its entry can only be dropped sooner, never kept longer.
   */
  async #verify(token: string, key: string): Promise<TokenVerdict> {
    const verdict = await this.#check(token);
    if (verdict.ok) this.#cache.expireWithin(key, verdict.token.expiresAtMs - this.#now());
    else this.#cache.markFailed(key);
    return verdict;
  }

  async #check(token: string): Promise<TokenVerdict> {
    try {
      const { jwtVerify } = await import('jose');
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: this.#plan.issuer,
        audience: this.#plan.service,
        requiredClaims: ['exp', 'iat'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.#now()),
      });
      const access = parseAccessClaim(payload.access);
      if (access === null) return { ok: false, reason: 'malformed access claim' };
      const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : null;
      const expiresAtMs = (payload.exp! + CLOCK_TOLERANCE_S) * 1000;
      return { ok: true, token: { subject, access, expiresAtMs } };
    } catch (error) {
      // The caller logs the refusal with the client address; the token itself is never logged.
      return { ok: false, reason: (error as { code?: string }).code ?? 'invalid token' };
    }
  }
}

/**
 * The signature of a compact JWS whose last dot is at `dot` (`token.lastIndexOf('.')`); a value
 * without a dot is all signature, so that it, too, is hashed whole.
 */
function signatureOf(token: string, dot: number): string {
  return dot === -1 ? token : token.slice(dot + 1);
}

/** What the signature of a compact JWS signs (`header.payload`), or '' for a value without a dot. */
function signedPartOf(token: string, dot: number): string {
  return dot === -1 ? '' : token.slice(0, dot);
}

function parseAccessClaim(claim: unknown): Map<string, Set<Action>> | null {
  if (claim === undefined) return new Map();
  if (!Array.isArray(claim)) return null;
  const access = new Map<string, Set<Action>>();
  for (const entry of claim) {
    if (typeof entry !== 'object' || entry === null) return null;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) return null;
    if (type !== 'repository') continue;
    const granted = access.get(name) ?? new Set<Action>();
    for (const action of actions) if (ACTIONS.includes(action as Action)) granted.add(action as Action);
    access.set(name, granted);
  }
  return access;
}

function resolveSigningKey(plan: SecurityPlan['token'], options: TokenServiceOptions): Uint8Array {
  if (plan.signingKey === null) return options.inheritedKey ?? new Uint8Array(randomBytes(32));
  const variable = plan.signingKey.env;
  const value = readSecret(plan.signingKey, options.env);
  if (value === undefined) {
    throw new AuthSetupError(
      'AUTH_ENV_MISSING',
      `missing environment variable ${variable} (security.token.signingKey)`,
    );
  }
  const key = new TextEncoder().encode(value);
  if (key.length < 32) {
    options.log.warn(
      { variable, bytes: key.length },
      'token signing key is shorter than 32 bytes: use a longer random secret',
    );
  }
  return key;
}
