/**
 * Outbound connections of one upstream: a keep-alive `Agent` for direct traffic and, when the plan
 * names an outbound proxy, a `ProxyAgent` (HTTP(S) proxy) or a SOCKS5 agent (socks-proxy.ts) for
 * every host the `noProxy` list does not exempt. The choice is made per URL, so a redirect to a CDN or a token realm on another host
 * follows the same rules as the registry itself.
 *
 * Through the proxy, `http://` targets are sent as absolute-form requests (`GET http://host:port/v2/…`
 * with `Proxy-Authorization`), as curl and Docker do, and only `https://` targets get a `CONNECT`
 * tunnel: proxies commonly allow `CONNECT` to port 443 alone (Squid's `deny CONNECT !SSL_ports`,
 * tinyproxy's sample `ConnectPort 443`/`563`), so tunnelling a plain-HTTP registry on port 5000
 * would be refused. undici decides this per target origin (`proxyTunnel: false`); it writes
 * absolute form over a plain `http://` proxy connection only, so behind an `https://` proxy every
 * target is tunnelled. {@link UpstreamDispatchers.route} states the same rule. Through a SOCKS5
 * proxy every connection is a SOCKS `CONNECT` to the target (route `socks`).
 */
import { Agent, type Dispatcher, Pool, ProxyAgent } from 'undici';
import type { HttpProxyPlan } from '../../compiler/plan.ts';
import { createSocksProxyAgent, isSocksProxyUrl, resolvesRemotely } from './socks-proxy.ts';
import { basicAuthorization } from './token-auth.ts';

/**
 * True when `hostname` bypasses the proxy: an entry `*` matches everything, `example.com` matches
 * the host and its subdomains, `.example.com` its subdomains only; a `:port` suffix on an entry
 * restricts it to that port.
 */
export function isNoProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch !== null && !entry.includes(']') && entry.split(':').length === 2) {
      if (portMatch[2] !== port) continue;
      entry = portMatch[1]!;
    }
    entry = entry.replace(/^\[|\]$/g, '');
    if (entry.startsWith('.')) {
      if (host.endsWith(entry)) return true;
    } else if (host === entry || host.endsWith(`.${entry}`)) {
      return true;
    }
  }
  return false;
}

/**
 * How a request to a URL leaves: straight to its host, as an absolute-form request to the proxy
 * (`forward`), through a `CONNECT` tunnel of the HTTP proxy (`tunnel`), or a SOCKS5 proxy's (`socks`).
 */
export type UpstreamRoute = 'direct' | 'forward' | 'tunnel' | 'socks';

/** Pool settings of every origin, direct or through the proxy. */
const POOL = { keepAliveTimeout: 30_000, connections: 64 } as const;

/** Options of {@link UpstreamDispatchers}. */
export interface UpstreamDispatchersOptions {
  readonly httpProxy: HttpProxyPlan | null;
  /** The proxy's password, resolved from its env reference. */
  readonly proxyPassword?: string;
  readonly timeoutMs: number;
  /** Replaces both dispatchers (tests pass a `MockAgent`). */
  readonly dispatcher?: Dispatcher;
}

/** The dispatchers of one upstream; `close()` releases every pooled connection. */
export class UpstreamDispatchers {
  readonly #options: UpstreamDispatchersOptions;
  #direct: Dispatcher | undefined;
  #proxied: Dispatcher | undefined;
  #closed = false;

  constructor(options: UpstreamDispatchersOptions) {
    this.#options = options;
  }

  /**
   * The dispatcher for a request to `url`. Throws once closed: a pool made after `close()` would
   * never be closed (an owner that lets go of its upstream must not keep using it).
   */
  for(url: URL): Dispatcher {
    if (this.#closed) throw new Error(`the upstream client for ${url.origin} is closed`);
    if (this.#options.dispatcher !== undefined) return this.#options.dispatcher;
    const proxy = this.#options.httpProxy;
    if (proxy === null || isNoProxy(url, proxy.noProxy)) {
      this.#direct ??= new Agent({ ...POOL, connect: { timeout: this.#options.timeoutMs } });
      return this.#direct;
    }
    // One agent for both proxied routes: it picks absolute form or a tunnel per target origin.
    this.#proxied ??= this.#createProxyAgent(proxy);
    return this.#proxied;
  }

  /** How a request to `url` is sent (what the dispatcher of {@link for} does with it). */
  route(url: URL): UpstreamRoute {
    const proxy = this.#options.httpProxy;
    if (proxy === null || isNoProxy(url, proxy.noProxy)) return 'direct';
    if (isSocksProxyUrl(proxy.url)) return 'socks';
    return url.protocol === 'http:' && new URL(proxy.url).protocol === 'http:' ? 'forward' : 'tunnel';
  }

  /**
   * True when a request to `url` goes through a `socks5://` proxy, for which regctl resolves the
   * target's host name itself (socks-proxy.ts): a lookup failure is then this side's, not the proxy's.
   */
  resolvesTargetNames(url: URL): boolean {
    const proxy = this.#options.httpProxy;
    return proxy !== null && this.route(url) === 'socks' && !resolvesRemotely(proxy.url);
  }

  /** True when requests to `url` go through the outbound proxy. */
  isProxied(url: URL): boolean {
    return this.route(url) !== 'direct';
  }

  #createProxyAgent(proxy: HttpProxyPlan): Dispatcher {
    if (isSocksProxyUrl(proxy.url)) {
      return createSocksProxyAgent({
        url: proxy.url,
        timeoutMs: this.#options.timeoutMs,
        ...(proxy.auth !== null && this.#options.proxyPassword !== undefined
          ? { username: proxy.auth.username, password: this.#options.proxyPassword }
          : {}),
      });
    }
    // The header value lives only inside the agent: never in a log field or an error message.
    const token =
      proxy.auth !== null && this.#options.proxyPassword !== undefined
        ? basicAuthorization({ username: proxy.auth.username, password: this.#options.proxyPassword })
        : undefined;
    const timeout = this.#options.timeoutMs;
    return new ProxyAgent({
      uri: proxy.url,
      token,
      // http:// targets: absolute-form requests on a pool to the proxy; https:// targets: CONNECT.
      proxyTunnel: false,
      // Connecting to the proxy (both routes), and the TLS handshake with a target in a tunnel.
      proxyTls: { timeout },
      requestTls: { timeout },
      // Called for the pool to the proxy (forward) and for each tunnelled origin; only `connect`
      // (how to reach the proxy or open the tunnel) is taken from undici's options, which also
      // carry the agent's own options, token included.
      factory: (origin, options) => new Pool(origin, { ...POOL, connect: (options as Pool.Options).connect }),
    });
  }

  /** Closes the pooled connections (not an injected dispatcher: its owner closes it). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#direct?.close(), this.#proxied?.close()]);
  }
}
