import type { ListenerConfig } from '../../schema/index.ts';
import { type Diagnostic, error } from '../diagnostics.ts';
import { routeEntries } from './route-entries.ts';
import type { Rule } from './types.ts';

/**
 * Several listeners on one host:port are merged into one, which is only allowed when their
 * routes do not conflict (same route → different repositories) and their TLS settings agree.
 * The same applies within one listener to keys differing only by case (hosts, namespaces).
 */
export const listenerConflicts: Rule = (config) => {
  const out: Diagnostic[] = [];
  const byAddress = new Map<string, { routes: Map<string, [string, number]>; tls: string; first: number }>();
  config.listeners.forEach((listener, index) => {
    const id = `${listener.host}:${listener.port}`;
    const tls = JSON.stringify(listener.tls ?? null);
    let merged = byAddress.get(id);
    if (merged === undefined) {
      merged = { routes: new Map(), tls, first: index };
      byAddress.set(id, merged);
    } else if (merged.tls !== tls) {
      out.push(
        error(
          'listener-conflict',
          ['listeners', index, 'tls'],
          `listener ${id} is also declared at listeners[${merged.first}] with different TLS settings`,
        ),
      );
    }
    for (const [route, repository, path] of routeEntries(listener)) {
      const previous = merged.routes.get(route);
      if (previous === undefined) merged.routes.set(route, [repository, index]);
      else if (previous[0] !== repository) {
        const where = previous[1] === index ? 'in the same listener' : `at listeners[${previous[1]}]`;
        out.push(
          error(
            'listener-conflict',
            ['listeners', index, ...path],
            `${route} on ${id} routes to \`${repository}\` here and to \`${previous[0]}\` ${where}`,
          ),
        );
      } else if (previous[1] === index && route.startsWith('mirror')) {
        out.push(
          error(
            'duplicate-mirror',
            ['listeners', index, ...path],
            `${route} is listed twice (names are case-insensitive)`,
          ),
        );
      }
    }
  });
  out.push(...wildcardOverlaps(config.listeners));
  return out;
};

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/**
 * A wildcard address and a specific one on the same port cannot both be bound (EADDRINUSE):
 * route them through one listener on the wildcard address instead.
 */
function wildcardOverlaps(listeners: readonly ListenerConfig[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const wildcardAt = new Map<number, number>();
  listeners.forEach((l, index) => {
    if (WILDCARDS.has(l.host) && !wildcardAt.has(l.port)) wildcardAt.set(l.port, index);
  });
  listeners.forEach((l, index) => {
    const wildcard = wildcardAt.get(l.port);
    if (wildcard === undefined || WILDCARDS.has(l.host)) return;
    out.push(
      error(
        'listener-overlap',
        ['listeners', index, 'host'],
        `${l.host}:${l.port} overlaps ${listeners[wildcard]!.host}:${l.port} at listeners[${wildcard}]: both cannot be bound`,
        `use host '${listeners[wildcard]!.host}' here too, so the two merge`,
      ),
    );
  });
  return out;
}
