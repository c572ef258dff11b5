/**
 * Sessions of the web UI's login form: an opaque random id (32 bytes, base64url) in an HttpOnly,
 * SameSite=Strict cookie, mapped in memory to the user name it was issued for. Nothing about the
 * user is in the cookie, so there is nothing to forge or to decode; a stolen cookie is as good as
 * the password until it expires or its user logs out, which is why it is HttpOnly, Strict and
 * Secure on TLS listeners.
 *
 * Held per listener app (runtime/ui/plugin.ts), for the life of the process: a reload keeps the
 * sessions, and every request still checks its user against the serving plan (a user removed by
 * the reload is signed out; one whose permissions changed sees what the new plan allows). A
 * restart signs everybody out. Bounded: at most {@link SessionOptions.maxSessions}, the oldest
 * dropped first; each lives `ttlMs` from its creation (no sliding renewal).
 */
import { createHash, randomBytes } from 'node:crypto';

export interface SessionOptions {
  /** Lifetime of a session from login (default 12 h). */
  readonly ttlMs?: number;
  /** Most sessions held at once (default 10 000). */
  readonly maxSessions?: number;
  readonly now?: () => number;
}

interface Session {
  readonly user: string;
  readonly expiresAt: number;
}

/** The name of the session cookie. */
export const SESSION_COOKIE = 'regctl_session';

/** The map key of an id: its SHA-256, so a lookup's timing tells nothing about a guessed id. */
function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** See the module comment. */
export class SessionStore {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Keyed by {@link keyOf}: the map never holds the ids themselves. */
  readonly #sessions = new Map<string, Session>();

  constructor(options: SessionOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 12 * 3_600_000;
    this.#max = Math.max(1, options.maxSessions ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Starts a session for `user`; returns its id (for the cookie). */
  create(user: string): string {
    const id = randomBytes(32).toString('base64url');
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(keyOf(id), { user, expiresAt: this.#now() + this.#ttlMs });
    return id;
  }

  /** The user of session `id`, or undefined when unknown or expired (an expired one is dropped). */
  user(id: string): string | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const key = keyOf(id);
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session.user;
  }

  /** Ends session `id` (logout); unknown ids are ignored. */
  delete(id: string): void {
    this.#sessions.delete(keyOf(id));
  }

  /** Sessions held (expired ones go lazily). */
  get size(): number {
    return this.#sessions.size;
  }
}
