import { type Diagnostic, error } from '../diagnostics.ts';
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

/** Remote, endpoint and outbound proxy URLs are absolute http(s) URLs without inline credentials. */
export const urls: Rule = (config) => {
  const out: Diagnostic[] = [];
  if (config.httpProxy) out.push(...checkUrl(config.httpProxy.url, ['httpProxy', 'url'], 'the HTTP proxy URL'));
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'proxy') return;
    out.push(...checkUrl(repo.remote.url, ['repositories', index, 'remote', 'url'], 'the remote URL'));
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
