import { type Diagnostic, error, warning } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/** A URL as a message may show it: any `user:password@` part is left out. */
function shown(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@\s]+@/i, '$1');
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** `host`, `host:port`, `host/path`: what people write when they leave the scheme out. */
const BARE_HOST = /^(?:[^/@\s]+@)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/\S*)?$/i;

const HTTP = ['http', 'https'] as const;
/** What an outbound proxy may be: an HTTP(S) proxy, or SOCKS5 (`socks5h`: the proxy resolves names). */
const PROXY_SCHEMES = ['http', 'https', 'socks5', 'socks5h'] as const;

/** `a, b or c` */
function alternatives(values: readonly string[]): string {
  return values.length < 2 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

function checkUrl(
  value: string,
  path: (string | number)[],
  what: string,
  schemes: readonly string[] = HTTP,
): Diagnostic[] {
  const credentials = /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^/@\s]+@/i.test(value);
  const moveCredentials = 'move the credentials to `auth`, with the password as { env: NAME }';
  if (!SCHEME.test(value) && BARE_HOST.test(value)) {
    const fixed = `https://${shown(value)}`;
    return [
      error(
        'invalid-url',
        path,
        `${what} \`${shown(value)}\`${credentials ? ' (credentials not shown)' : ''} has no scheme`,
        `add https://: ${fixed} (or http:// for a plain-HTTP server)${credentials ? `; ${moveCredentials}` : ''}`,
      ),
    ];
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [
      error(
        'invalid-url',
        path,
        `${what} \`${shown(value)}\` is not an absolute URL`,
        'write it as http(s)://host[:port]',
      ),
    ];
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!schemes.includes(scheme)) {
    const socks = schemes.includes('socks5') && /^socks/.test(scheme);
    return [
      error(
        'invalid-url',
        path,
        `${what} must use ${alternatives(schemes)}, not ${scheme}`,
        socks
          ? 'regctl speaks SOCKS version 5 only: socks5:// (regctl resolves host names) or socks5h:// (the proxy resolves them)'
          : undefined,
      ),
    ];
  }
  if (url.username || url.password) {
    return [error('url-credentials', path, `${what} must not contain credentials (not shown)`, moveCredentials)];
  }
  if (url.search || url.hash) return [error('invalid-url', path, `${what} must not have a query or fragment`)];
  if (scheme.startsWith('socks') && url.pathname !== '' && url.pathname !== '/') {
    return [error('invalid-url', path, `${what} must not have a path: a SOCKS proxy is a host and a port`)];
  }
  return [];
}

/** A URL's identity for duplicate detection: lower-case scheme and host, no trailing slash. */
function normalized(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return value;
  }
}

/** Mistakes commonly carried over from other registries' settings. */
function remoteHints(url: URL, path: (string | number)[]): Diagnostic[] {
  if (/\/v2\/?$/.test(url.pathname)) {
    return [
      error(
        'invalid-url',
        path,
        'the remote URL must not end with /v2: the registry API path is added by regctl',
        `use ${url.origin}${url.pathname.replace(/\/v2\/?$/, '')}`,
      ),
    ];
  }
  if (url.hostname === 'docker.io' || url.hostname === 'hub.docker.com') {
    return [
      warning(
        'docker-hub-url',
        path,
        `${url.hostname} does not serve the registry API`,
        'use https://registry-1.docker.io',
      ),
    ];
  }
  return [];
}

/** Remote, endpoint and outbound proxy URLs are absolute http(s) URLs without inline credentials. */
export const urls: Rule = (config) => {
  const out: Diagnostic[] = [];
  if (config.httpProxy) {
    out.push(...checkUrl(config.httpProxy.url, ['httpProxy', 'url'], 'the outbound proxy URL', PROXY_SCHEMES));
  }
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'proxy') return;
    const path = ['repositories', index, 'remote', 'url'];
    const problems = checkUrl(repo.remote.url, path, 'the remote URL');
    out.push(...problems);
    if (problems.length === 0) out.push(...remoteHints(new URL(repo.remote.url), path));
    const seen = new Map<string, number>([[normalized(repo.remote.url), -1]]);
    (repo.remote.mirrors ?? []).forEach((mirror, m) => {
      const mirrorPath = ['repositories', index, 'remote', 'mirrors', m];
      const mirrorProblems = checkUrl(mirror, mirrorPath, 'the mirror URL');
      out.push(...mirrorProblems);
      if (mirrorProblems.length > 0) return;
      out.push(...remoteHints(new URL(mirror), mirrorPath));
      const key = normalized(mirror);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, m);
      else
        out.push(
          error(
            'duplicate-mirror',
            mirrorPath,
            first === -1
              ? `the mirror ${shown(mirror)} is the remote URL itself`
              : `the mirror ${shown(mirror)} is listed twice (first at remote.mirrors[${first}])`,
            'remove this entry: each endpoint is tried once per request',
          ),
        );
    });
    if (repo.httpProxy) {
      const proxyPath = ['repositories', index, 'httpProxy', 'url'];
      out.push(...checkUrl(repo.httpProxy.url, proxyPath, 'the outbound proxy URL', PROXY_SCHEMES));
    }
  });
  config.blobStores.forEach((store, index) => {
    if (store.type === 's3' && typeof store.endpoint === 'string') {
      out.push(...checkUrl(store.endpoint, ['blobStores', index, 'endpoint'], 'the S3 endpoint'));
    }
  });
  return out;
};
