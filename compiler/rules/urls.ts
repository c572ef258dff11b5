import { type Diagnostic, error, warning } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/** A URL as a message may show it: any `user:password@` part is left out. */
function shown(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@\s]+@/i, '$1');
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** `host`, `host:port`, `host/path`: what people write when they leave the scheme out. */
const BARE_HOST = /^(?:[^/@\s]+@)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/\S*)?$/i;

function checkUrl(value: string, path: (string | number)[], what: string): Diagnostic[] {
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
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return [error('invalid-url', path, `${what} must use http or https, not ${url.protocol.slice(0, -1)}`)];
  }
  if (url.username || url.password) {
    return [error('url-credentials', path, `${what} must not contain credentials (not shown)`, moveCredentials)];
  }
  if (url.search || url.hash) return [error('invalid-url', path, `${what} must not have a query or fragment`)];
  return [];
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
  if (config.httpProxy) out.push(...checkUrl(config.httpProxy.url, ['httpProxy', 'url'], 'the HTTP proxy URL'));
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'proxy') return;
    const path = ['repositories', index, 'remote', 'url'];
    const problems = checkUrl(repo.remote.url, path, 'the remote URL');
    out.push(...problems);
    if (problems.length === 0) out.push(...remoteHints(new URL(repo.remote.url), path));
    if (repo.httpProxy)
      out.push(...checkUrl(repo.httpProxy.url, ['repositories', index, 'httpProxy', 'url'], 'the HTTP proxy URL'));
  });
  config.blobStores.forEach((store, index) => {
    if (store.type === 's3' && typeof store.endpoint === 'string') {
      out.push(...checkUrl(store.endpoint, ['blobStores', index, 'endpoint'], 'the S3 endpoint'));
    }
  });
  return out;
};
