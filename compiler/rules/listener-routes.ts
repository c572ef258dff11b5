import { type Diagnostic, didYouMean, error, warning } from '../diagnostics.ts';
import { routeEntries } from './route-entries.ts';
import type { Rule } from './types.ts';

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const REGISTRY_HOST = new RegExp(`${HOST_NAME.source.slice(0, -1)}(?::\\d{1,5})?$`);

/** Every repository a listener routes to exists; a listener routes somewhere; there is a listener. */
export const listenerRoutes: Rule = (config) => {
  const out: Diagnostic[] = [];
  if (config.listeners.length === 0) {
    out.push(
      warning(
        'no-listeners',
        ['listeners'],
        'no listeners: the registry will not serve anything',
        "add { host: '127.0.0.1', port: 5000, repository: '<name>' }",
      ),
    );
  }
  const repos = config.repositories.map((r) => r.name);
  const check = (name: string, path: (string | number)[]) => {
    if (!repos.includes(name))
      out.push(error('unknown-repository', path, `unknown repository \`${name}\``, didYouMean(name, repos)));
  };
  config.listeners.forEach((listener, index) => {
    const base = ['listeners', index];
    const routes = routeEntries(listener);
    for (const [, name, path] of routes) check(name, [...base, ...path]);
    for (const ns of Object.keys(listener.mirrors)) {
      if (!REGISTRY_HOST.test(ns)) {
        out.push(
          error(
            'invalid-namespace',
            [...base, 'mirrors', ns],
            `\`${ns}\` is not a registry host name`,
            "write it as containerd sends it in ?ns=, e.g. 'docker.io' or 'registry.example.com:5000'",
          ),
        );
      }
    }
    for (const host of Object.keys(listener.virtualHosts)) {
      if (!HOST_NAME.test(host)) {
        out.push(
          error(
            'invalid-virtual-host',
            [...base, 'virtualHosts', host],
            `\`${host}\` is not a host name`,
            'virtual hosts are matched on the Host header without its port',
          ),
        );
      }
    }
    if (routes.length === 0) {
      out.push(
        warning(
          'listener-without-routes',
          base,
          `listener ${listener.host}:${listener.port} routes to no repository`,
          'set repository, paths, virtualHosts or mirrors',
        ),
      );
    }
  });
  return out;
};
