import { type Diagnostic, error, warning } from '../diagnostics.ts';
import type { Rule } from './types.ts';

function checkUrl(value: string, path: (string | number)[], what: string): Diagnostic[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [
      error('invalid-url', path, `${what} \`${value}\` is not an absolute URL`, 'write it as http(s)://host[:port]'),
    ];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return [error('invalid-url', path, `${what} must use http or https, not ${url.protocol.slice(0, -1)}`)];
  }
  if (url.username || url.password) {
    return [
      error(
        'url-credentials',
        path,
        `${what} must not contain credentials`,
        'move them to `auth`, with the password as { env: NAME }',
      ),
    ];
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
