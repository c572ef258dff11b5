/**
 * What a UI page is rendered from: the viewer, the request's runtime state (captured once per
 * request, like every v2 request), the listener's routes, and the query. Plus the lookups several
 * pages share: a visible repository by name (undefined, so a 404, for one the viewer may not
 * pull from), the reference a client would pull, a proxy's cache and upstream figures, and the
 * storage usage `serve` measures.
 */

import type { RepositoryUsage, StoreUsage } from '../../gc/usage.ts';
import type { RouteResolver } from '../../http/resolve-repository.ts';
import type { Repository } from '../../repositories/repository.ts';
import type { PlanHolder } from '../../server/plan-holder.ts';
import type { RuntimeState } from '../../server/state.ts';
import type { EndpointHealth } from '../../upstream/endpoints.ts';
import type { UpstreamHealth } from '../../upstream/transport.ts';
import type { Viewer } from '../viewer.ts';

export interface UiContext {
  readonly viewer: Viewer;
  readonly state: RuntimeState;
  readonly resolver: RouteResolver;
  readonly holder: PlanHolder;
  readonly query: URLSearchParams;
  /** The Host header the browser sent: pull commands name the registry as the browser reached it. */
  readonly host: string;
}

/** Items per page of every list, unless `?n=` (1–{@link MAX_PAGE_SIZE}) says otherwise. */
export const PAGE_SIZE = 50;
/** Most items a page lists: a tag page of 100 stays well under 200 ms (docs/ui.md). */
export const MAX_PAGE_SIZE = 100;

/** `?n=` within 1–{@link MAX_PAGE_SIZE} (larger: the maximum), else {@link PAGE_SIZE}. */
export function pageSize(query: URLSearchParams): number {
  const n = Number(query.get('n'));
  if (!Number.isInteger(n) || n < 1) return PAGE_SIZE;
  return Math.min(n, MAX_PAGE_SIZE);
}

/** The repository `name` when the viewer may pull from it on this listener, else undefined. */
export function visibleRepository(ui: UiContext, name: string): Repository | undefined {
  if (!ui.viewer.repositories.includes(name)) return undefined;
  return ui.state.repositories.get(name);
}

/**
 * What a client pulls `image` of `repository` as through this listener (`host/prefix/image`, or a
 * virtual host's name), with `:tag` or `@digest`; undefined when only a mirror route reaches it.
 */
export function pullReference(
  ui: UiContext,
  repository: string,
  image: string,
  reference?: string,
): string | undefined {
  const suffix = reference === undefined ? '' : reference.includes(':') ? `@${reference}` : `:${reference}`;
  const source = ui.resolver
    .catalogSources({ host: undefined, ns: undefined, prefix: undefined })
    .find((candidate) => candidate.repository === repository);
  if (source !== undefined) return `${ui.host}/${source.prefix}${image}${suffix}`;
  const port = /:\d+$/.exec(ui.host)?.[0] ?? '';
  const host = Object.entries(ui.resolver.listener.virtualHosts).find((entry) => entry[1] === repository)?.[0];
  return host === undefined ? undefined : `${host}${port}/${image}${suffix}`;
}

/** A proxy's endpoints (its mirrors and remote) with their breaker state, in the order they are tried. */
export function proxyEndpoints(repository: Repository | undefined): readonly EndpointHealth[] {
  return (repository as { endpointHealth?: EndpointHealth[] } | undefined)?.endpointHealth ?? [];
}

/** What a proxy repository instance tells about its cache and upstream (proxy.ts), when it is one. */
export function proxyFigures(
  repository: Repository | undefined,
): { health: Readonly<UpstreamHealth>; results: Readonly<Record<string, number>> } | undefined {
  const proxy = repository as
    | { upstreamHealth?: Readonly<UpstreamHealth>; cacheResults?: Readonly<Record<string, number>> }
    | undefined;
  if (proxy?.upstreamHealth === undefined || proxy.cacheResults === undefined) return undefined;
  return { health: proxy.upstreamHealth, results: proxy.cacheResults };
}

/** The usage of every store as last measured by `serve` (empty before the first measurement or without serve). */
export function storeUsage(holder: PlanHolder): readonly StoreUsage[] {
  const status = holder.storageStatus as { usage?: unknown } | undefined;
  return Array.isArray(status?.usage) ? (status.usage as StoreUsage[]) : [];
}

/** A repository's share of its store as last measured, or undefined. */
export function repositoryUsage(holder: PlanHolder, repository: string): RepositoryUsage | undefined {
  for (const store of storeUsage(holder)) {
    const found = store.repositories.find((usage) => usage.repository === repository);
    if (found !== undefined) return found;
  }
  return undefined;
}
