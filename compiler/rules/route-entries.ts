import type { ListenerConfig } from '../../schema/index.ts';

/**
 * A listener's routes as `[route, repository, path]`: the route's description (`default
 * repository`, ``path prefix `x` ``, virtual hosts and mirror namespaces lowercased, as they are
 * matched), the repository it names, and its path inside the listener. Paths given as a list
 * route each name to itself. Shared by the rules that check routes, so they agree on what one is.
 */
export function routeEntries(listener: ListenerConfig): [string, string, (string | number)[]][] {
  const entries: [string, string, (string | number)[]][] = [];
  if (listener.repository !== undefined) entries.push(['default repository', listener.repository, ['repository']]);
  if (Array.isArray(listener.paths))
    listener.paths.forEach((name, i) => {
      entries.push([`path prefix \`${name}\``, name, ['paths', i]]);
    });
  else
    for (const [prefix, name] of Object.entries(listener.paths))
      entries.push([`path prefix \`${prefix}\``, name, ['paths', prefix]]);
  for (const [host, name] of Object.entries(listener.virtualHosts))
    entries.push([`virtual host \`${host.toLowerCase()}\``, name, ['virtualHosts', host]]);
  for (const [ns, name] of Object.entries(listener.mirrors))
    entries.push([`mirror namespace \`${ns.toLowerCase()}\``, name, ['mirrors', ns]]);
  return entries;
}
