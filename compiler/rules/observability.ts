import { notificationName } from '../compile-observability.ts';
import { type Diagnostic, didYouMean, error, warning } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/** Header names whose value is a credential: never written literally in a config kept in git. */
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|api-?key|password/i;

/** Whether `a` and `b` (hosts) can be the same socket: equal, or one of them is a wildcard. */
function overlaps(a: string, b: string): boolean {
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  return a === b || wildcard(a) || wildcard(b);
}

/**
 * `metrics`, `audit` and `notifications`: the metrics port is valid and not a registry listener's;
 * webhook URLs are absolute http(s) without inline credentials; endpoint names are unique; secret
 * headers come from the environment; repository names that are not globs exist.
 */
export const observability: Rule = (config) => {
  const out: Diagnostic[] = [];
  const { metrics } = config;
  if (metrics) {
    if (metrics.port < 1 || metrics.port > 65535) {
      out.push(error('invalid-port', ['metrics', 'port'], `port ${metrics.port} is out of range 1-65535`));
    }
    const index = config.listeners.findIndex((l) => l.port === metrics.port && overlaps(l.host, metrics.host));
    if (index !== -1) {
      out.push(
        error(
          'listener-conflict',
          ['metrics', 'port'],
          `the metrics listener ${metrics.host}:${metrics.port} would share its socket with listeners[${index}]`,
          'metrics are served on their own port: pick one no registry listener uses (the default is 9464)',
        ),
      );
    }
  }
  const names = new Map<string, number>();
  const repositories = config.repositories.map((r) => r.name);
  config.notifications.forEach((notification, index) => {
    const path = ['notifications', index];
    let url: URL | undefined;
    try {
      url = new URL(notification.url);
    } catch {
      out.push(
        error(
          'invalid-url',
          [...path, 'url'],
          `the webhook URL \`${notification.url}\` is not an absolute URL`,
          'write it as http(s)://host[:port]/path',
        ),
      );
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      out.push(error('invalid-url', [...path, 'url'], `the webhook URL must use http or https, not ${url.protocol}`));
    }
    if (url && (url.username || url.password)) {
      out.push(
        error(
          'url-credentials',
          [...path, 'url'],
          'the webhook URL must not contain credentials',
          'send them in `headers`, e.g. Authorization: { env: HOOK_TOKEN }',
        ),
      );
    }
    const name = notificationName(notification);
    const first = names.get(name);
    if (first === undefined) names.set(name, index);
    else {
      out.push(
        error(
          'duplicate-name',
          [...path, 'name'],
          `notification name \`${name}\` is already used by notifications[${first}]`,
          'give each endpoint its own `name` (endpoints on one host need one)',
        ),
      );
    }
    for (const [header, value] of Object.entries(notification.headers)) {
      if (typeof value === 'string' && SECRET_HEADER.test(header)) {
        out.push(
          error(
            'plaintext-secret',
            [...path, 'headers', header],
            `header ${header} looks like a credential and is written in the config`,
            `read it from the environment: ${header}: { env: 'HOOK_TOKEN' }`,
          ),
        );
      }
    }
    notification.repositories.forEach((pattern, i) => {
      if (pattern.includes('*') || repositories.includes(pattern)) return;
      const hint = didYouMean(pattern, repositories);
      out.push(
        warning(
          'unknown-repository',
          [...path, 'repositories', i],
          `no repository is named \`${pattern}\`: this entry matches nothing`,
          hint,
        ),
      );
    });
  });
  return out;
};
