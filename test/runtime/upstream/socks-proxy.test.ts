/**
 * The SOCKS5 route of the upstream dispatchers and what its failures say. The end-to-end proof
 * (a real microsocks, the upstream reachable only through it) is test/e2e/proxy-socks.test.ts.
 */
import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { fromNetworkError } from '../../../runtime/upstream/errors.ts';
import { UpstreamDispatchers } from '../../../runtime/upstream/http-proxy.ts';
import { isSocksProxyUrl } from '../../../runtime/upstream/socks-proxy.ts';

const proxy = { url: 'socks5h://127.0.0.1:1080', credentials: true };
const context = { proxy, target: 'registry.test:443', timeoutMs: 1000 };
const socksError = (code: string, message = 'SOCKS5 proxy error') => new errors.Socks5ProxyError(message, code);

describe('SOCKS5 outbound proxies', () => {
  it('recognises socks5:// and socks5h:// only', () => {
    expect(['socks5://h:1', 'SOCKS5H://h:1'].map(isSocksProxyUrl)).toEqual([true, true]);
    expect(['socks4://h:1', 'socks://h:1', 'http://h:1'].map(isSocksProxyUrl)).toEqual([false, false, false]);
  });

  it('routes every target not exempted by noProxy through the SOCKS agent', async () => {
    const dispatchers = new UpstreamDispatchers({
      httpProxy: { url: 'socks5h://127.0.0.1:1080', auth: null, noProxy: ['internal.test'] },
      timeoutMs: 1000,
    });
    expect(dispatchers.route(new URL('http://127.0.0.1:5000/v2/'))).toBe('socks');
    expect(dispatchers.route(new URL('https://registry-1.docker.io/v2/'))).toBe('socks');
    expect(dispatchers.route(new URL('https://mirror.internal.test/v2/'))).toBe('direct');
    // socks5h://: the proxy resolves names; socks5://: regctl does, but not for exempted hosts.
    expect(dispatchers.resolvesTargetNames(new URL('https://registry-1.docker.io/v2/'))).toBe(false);
    const local = new UpstreamDispatchers({
      httpProxy: { url: 'socks5://127.0.0.1:1080', auth: null, noProxy: ['internal.test'] },
      timeoutMs: 1000,
    });
    expect(local.resolvesTargetNames(new URL('https://registry-1.docker.io/v2/'))).toBe(true);
    expect(local.resolvesTargetNames(new URL('https://mirror.internal.test/v2/'))).toBe(false);
    await local.close();
    expect(dispatchers.for(new URL('http://a.example/'))).toBe(dispatchers.for(new URL('https://b.example/')));
    await dispatchers.close();
  });

  it('says which side failed, with the proxy and the target, and no credentials', () => {
    const cases: [Error, string, string][] = [
      [socksError('UND_ERR_SOCKS5_AUTH_FAILED'), 'UPSTREAM_PROXY_REFUSED', 'refused our proxy credentials'],
      [
        socksError('UND_ERR_SOCKS5_AUTH_REJECTED'),
        'UPSTREAM_PROXY_REFUSED',
        'accepts none of our authentication methods',
      ],
      [
        socksError('UND_ERR_SOCKS5_REPLY_5'),
        'UPSTREAM_UNREACHABLE',
        'could not connect to registry.test:443: connection refused',
      ],
      [
        socksError('UND_ERR_SOCKS5_REPLY_2'),
        'UPSTREAM_PROXY_REFUSED',
        'could not connect to registry.test:443: not allowed by its rules',
      ],
      [new Error('SOCKS5 connection timeout'), 'UPSTREAM_TIMEOUT', 'did not complete the connection within 5s'],
    ];
    for (const [error, code, reason] of cases) {
      const failure = fromNetworkError(error, 'GET https://registry.test/v2/', context);
      expect([failure.code, failure.reason]).toEqual([code, `the SOCKS5 proxy socks5h://127.0.0.1:1080 ${reason}`]);
    }
    const none = fromNetworkError(socksError('UND_ERR_SOCKS5_AUTH_REJECTED'), 'GET', {
      ...context,
      proxy: { ...proxy, credentials: false },
    });
    expect(none.reason).toBe('the SOCKS5 proxy socks5h://127.0.0.1:1080 requires credentials and none are configured');
  });

  it('with socks5://, a name regctl cannot resolve is reported as resolved here, with the socks5h:// way out', () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND registry.test'), {
      code: 'ENOTFOUND',
      hostname: 'registry.test',
    });
    const failure = fromNetworkError(notFound, 'GET', {
      ...context,
      proxy: { url: 'socks5://127.0.0.1:1080', credentials: false },
      socksResolvesHere: true,
    });
    expect(failure.reason).toBe(
      'host name registry.test not found here (socks5:// resolves names in regctl; socks5h:// lets the proxy resolve them)',
    );
    // The proxy's own host name is the proxy's problem, as for an HTTP proxy.
    const proxyHost = Object.assign(new Error('getaddrinfo ENOTFOUND socks.test'), {
      code: 'ENOTFOUND',
      hostname: 'socks.test',
    });
    expect(fromNetworkError(proxyHost, 'GET', { ...context, socksResolvesHere: true }).reason).toBe(
      'the outbound proxy socks5h://127.0.0.1:1080: host name not found',
    );
  });
});
