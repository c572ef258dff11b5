/**
 * `WWW-Authenticate` challenges (RFC 7235, Docker token protocol). Clients set up auth only from
 * a challenge, so its exact shape matters: Docker, containerd and podman read `realm`, `service`
 * and `scope` from a Bearer challenge, and fetch a token from the realm with them.
 */
import type { Action } from '../../compiler/plan.ts';
import type { AuthRequest } from './types.ts';

/** The path of the token endpoint on every listener. */
export const TOKEN_PATH = '/-/token';

/** Quotes a header parameter value: escapes `\` and `"`, drops control characters. */
export function quote(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

/** `<protocol>://<host>/-/token`: the token endpoint as the client reached this registry. */
export function tokenRealm(request: Pick<AuthRequest, 'protocol' | 'host'>): string {
  return `${request.protocol}://${request.host}${TOKEN_PATH}`;
}

/** `repository:<name>:<actions>`, the scope syntax of the Docker token protocol. */
export function formatScope(name: string, actions: readonly Action[]): string {
  return `repository:${name}:${actions.join(',')}`;
}

/** Why a Bearer token was refused (RFC 6750 §3.1), echoed in the challenge. */
export type BearerError = 'invalid_token' | 'insufficient_scope';

export interface BearerChallenge {
  readonly realm: string;
  readonly service: string;
  /** Omitted for the `/v2/` ping, which asks for no particular repository. */
  readonly scope?: string;
  readonly error?: BearerError;
}

/** `Bearer realm="…",service="…"[,scope="…"][,error="…"]`. */
export function formatBearerChallenge(challenge: BearerChallenge): string {
  let header = `Bearer realm=${quote(challenge.realm)},service=${quote(challenge.service)}`;
  if (challenge.scope !== undefined) header += `,scope=${quote(challenge.scope)}`;
  if (challenge.error !== undefined) header += `,error=${quote(challenge.error)}`;
  return header;
}

/** `Basic realm="…",charset="UTF-8"`: used when tokens are disabled, and by the token endpoint. */
export function formatBasicChallenge(realm: string): string {
  return `Basic realm=${quote(realm)},charset="UTF-8"`;
}
