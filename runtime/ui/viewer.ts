/**
 * Who is looking at a UI page, and what they may see. The rule is the registry's own pull
 * permission, asked of the serving plan's access controller on every request:
 *
 * - credentials in the `Authorization` header (a browser's Basic prompt, a script's Basic or
 *   Bearer) are checked exactly as the v2 API checks them (same cache, same throttle); wrong ones
 *   are refused, never downgraded to anonymous;
 * - else the session cookie of the login form names a user, who must still exist in the plan;
 * - else the visitor is anonymous and sees what anonymous clients may pull.
 *
 * A repository the viewer may not pull from is not there at all: absent from lists and search,
 * and its pages answer 404 exactly like a repository that does not exist. The plan and the reload
 * history are shown to operators only: signed-in users who may pull from every repository of the
 * plan (so no page ever names a repository its viewer may not see).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthRequest, Principal } from '../auth/types.ts';
import { toAuthRequest } from '../http/context.ts';
import type { RouteResolver } from '../http/resolve-repository.ts';
import { isRegistryError, type RegistryError } from '../oci/errors.ts';
import type { RuntimeState } from '../server/state.ts';
import { SESSION_COOKIE, type SessionStore } from './sessions.ts';

/** A visitor with their rights on this listener. */
export interface Viewer {
  /** The user name, or null for anonymous. */
  readonly user: string | null;
  /** How they were recognised. */
  readonly via: 'header' | 'session' | 'anonymous';
  readonly principal: Principal;
  /** The repositories of this listener they may pull from, in plan order. */
  readonly repositories: readonly string[];
  /** Signed in and may pull from every repository of the plan: sees the plan and reload history. */
  readonly operator: boolean;
  /** The session id when recognised by the cookie. */
  readonly sessionId?: string;
}

/** Credentials that were refused (401), or a login check that did not run (429). */
export interface Refusal {
  readonly refused: RegistryError;
}

const ANONYMOUS: Principal = Object.freeze({ user: null });

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Checks the credentials of `auth` as the v2 API would for `GET /v2/`; a refusal is returned, not thrown. */
export async function checkCredentials(
  state: RuntimeState,
  resolver: RouteResolver,
  auth: AuthRequest,
): Promise<Principal | Refusal> {
  try {
    return await state.access.authorize(auth, { base: true, repositories: resolver.repositories });
  } catch (error) {
    if (isRegistryError(error) && (error.code === 'UNAUTHORIZED' || error.code === 'TOOMANYREQUESTS')) {
      return { refused: error };
    }
    throw error;
  }
}

/** Who `request` is (see the module comment), or the refusal of the credentials it sent. */
export async function resolveViewer(
  request: FastifyRequest,
  state: RuntimeState,
  resolver: RouteResolver,
  sessions: SessionStore,
): Promise<Viewer | Refusal> {
  let principal: Principal = ANONYMOUS;
  let via: Viewer['via'] = 'anonymous';
  let sessionId: string | undefined;
  const header = request.headers.authorization;
  if (header !== undefined && header.trim() !== '') {
    const checked = await checkCredentials(state, resolver, toAuthRequest(request));
    if ('refused' in checked) return checked;
    principal = checked;
    via = 'header';
  } else {
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    const user = id === undefined ? undefined : sessions.user(id);
    if (id !== undefined && user !== undefined && state.access.knows?.(user) === true) {
      principal = Object.freeze({ user });
      via = 'session';
      sessionId = id;
    }
  }
  const may = (repository: string) => state.access.can?.(principal, repository, 'pull') === true;
  const repositories = resolver.repositories.filter(may);
  const operator = principal.user !== null && Object.keys(state.plan.repositories).every(may);
  return {
    user: principal.user,
    via,
    principal,
    repositories,
    operator,
    ...(sessionId === undefined ? {} : { sessionId }),
  };
}
