/**
 * Which repository serves a request, per the listener's route table (see `ListenerPlan` in
 * compiler/plan.ts). Pure: built once per listener per compiled state, then consulted on every
 * request. The order is the plan's: `?ns=` mirror → virtual host → first path segment (or the
 * Nexus-style `/repository/<repo>/v2/…` prefix) → the default repository → `NAME_UNKNOWN`.
 */
import type { ListenerPlan } from '../../compiler/plan.ts';
import { RegistryError } from '../oci/errors.ts';

/** What of a request routing looks at. */
export interface RouteContext {
  /** The Host header (a port is ignored), or undefined. */
  readonly host: string | undefined;
  /** The `?ns=` query parameter a containerd mirror client sends, or undefined. */
  readonly ns: string | undefined;
  /** `<repo>` of a `/repository/<repo>/v2/…` URL, or undefined for a plain `/v2/…` URL. */
  readonly prefix: string | undefined;
}

/** A resolved route: the plan repository and the image name inside it. */
export interface ResolvedName {
  readonly repository: string;
  readonly image: string;
  /** The name as the client sees it (what tokens and error details name). */
  readonly name: string;
}

/** A repository whose images the catalog lists, with the prefix the client sees them under. */
export interface CatalogSource {
  readonly repository: string;
  /** '' or `<segment>/`. */
  readonly prefix: string;
}

/** Strips the port from a Host header value (`[::1]:5000` → `[::1]`, `a.test:5000` → `a.test`). */
export function hostWithoutPort(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/** The compiled route table of one listener. */
export class RouteResolver {
  readonly listener: ListenerPlan;
  readonly #exists: (repository: string) => boolean;
  readonly #virtualHosts: Map<string, string>;

  /** `exists` tells whether a plan repository is live (a route to a missing one is NAME_UNKNOWN). */
  constructor(listener: ListenerPlan, exists: (repository: string) => boolean) {
    this.listener = listener;
    this.#exists = exists;
    this.#virtualHosts = new Map(
      Object.entries(listener.virtualHosts).map(([host, repo]) => [host.toLowerCase(), repo]),
    );
  }

  /** Every repository this listener can route to, deduplicated, in plan order. */
  get repositories(): string[] {
    const { defaultRepository, paths, virtualHosts, mirrors } = this.listener;
    const all = [
      ...(defaultRepository ? [defaultRepository] : []),
      ...Object.values(paths),
      ...Object.values(virtualHosts),
      ...Object.values(mirrors),
    ];
    return [...new Set(all)].filter(this.#exists);
  }

  /**
   * The repository a whole-request context pins, before looking at the name: a mapped `?ns=`, a
   * virtual host, or a `/repository/<repo>` prefix. Undefined when the name decides.
   */
  #pinned(context: RouteContext): string | undefined {
    const { mirrors, paths } = this.listener;
    if (context.ns !== undefined && Object.hasOwn(mirrors, context.ns)) return mirrors[context.ns];
    if (context.host !== undefined) {
      const repo = this.#virtualHosts.get(hostWithoutPort(context.host));
      if (repo !== undefined) return repo;
    }
    if (context.prefix !== undefined) {
      if (Object.hasOwn(paths, context.prefix)) return paths[context.prefix];
      if (this.repositories.includes(context.prefix)) return context.prefix;
      throw new RegistryError('NAME_UNKNOWN', {
        message: `no repository "${context.prefix}" on this listener`,
        detail: { repository: context.prefix },
      });
    }
    return undefined;
  }

  /** Resolves a validated client-visible name. Throws `NAME_UNKNOWN` when nothing routes it. */
  resolve(name: string, context: RouteContext): ResolvedName {
    const pinned = this.#pinned(context);
    if (pinned !== undefined) return this.#checked({ repository: pinned, image: name, name });
    const slash = name.indexOf('/');
    if (slash !== -1) {
      const segment = name.slice(0, slash);
      if (Object.hasOwn(this.listener.paths, segment)) {
        return this.#checked({ repository: this.listener.paths[segment]!, image: name.slice(slash + 1), name });
      }
    }
    if (this.listener.defaultRepository !== null) {
      return this.#checked({ repository: this.listener.defaultRepository, image: name, name });
    }
    throw new RegistryError('NAME_UNKNOWN', {
      message: 'no repository on this listener serves this name: prefix it with one of the configured paths',
      detail: { name, paths: Object.keys(this.listener.paths) },
    });
  }

  /** Like {@link resolve} but undefined instead of throwing (for token scopes). */
  tryResolve(name: string, context: RouteContext): ResolvedName | undefined {
    try {
      return this.resolve(name, context);
    } catch {
      return undefined;
    }
  }

  /** The repositories `GET /v2/_catalog` lists for this context, and their client-visible prefixes. */
  catalogSources(context: RouteContext): CatalogSource[] {
    const pinned = this.#pinned(context);
    if (pinned !== undefined) return this.#exists(pinned) ? [{ repository: pinned, prefix: '' }] : [];
    const sources: CatalogSource[] = [];
    const { defaultRepository, paths } = this.listener;
    if (defaultRepository !== null && this.#exists(defaultRepository)) {
      sources.push({ repository: defaultRepository, prefix: '' });
    }
    for (const [segment, repository] of Object.entries(paths)) {
      if (this.#exists(repository)) sources.push({ repository, prefix: `${segment}/` });
    }
    return sources;
  }

  #checked(resolved: ResolvedName): ResolvedName {
    if (!this.#exists(resolved.repository)) {
      throw new RegistryError('NAME_UNKNOWN', {
        message: `repository "${resolved.repository}" is not available`,
        detail: { name: resolved.name },
      });
    }
    return resolved;
  }
}
