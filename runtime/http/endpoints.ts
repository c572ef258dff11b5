/**
 * Parses the part of a v2 URL after `/v2/` into an endpoint. Names contain slashes, so the router
 * matches a wildcard and this takes the tail apart from its end: a reference, digest or upload id
 * never contains a slash, so the last `/manifests/`, `/blobs/`, … wins and a repository may well
 * be called `manifests`.
 */
import type { HTTPMethods } from 'fastify';

export type Endpoint =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'uploads'; readonly name: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id: string }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

const PATTERNS: ReadonlyArray<readonly [RegExp, (match: RegExpExecArray) => Endpoint]> = [
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/** The endpoint of a decoded tail (`''` for `/v2/`), or undefined for an unknown path. */
export function parseEndpoint(tail: string): Endpoint | undefined {
  if (tail === '') return { kind: 'base' };
  if (tail === '_catalog') return { kind: 'catalog' };
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(tail);
    if (match) return build(match);
  }
  return undefined;
}

/** The methods each endpoint answers; anything else is 405 `UNSUPPORTED`. */
export const ALLOWED_METHODS: Readonly<Record<Endpoint['kind'], readonly HTTPMethods[]>> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  uploads: ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  tags: ['GET'],
  referrers: ['GET'],
};
