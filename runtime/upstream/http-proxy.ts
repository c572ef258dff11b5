/**
 * Outbound connections of one upstream: a keep-alive `Agent` for direct traffic and, when the plan
 * names an outbound HTTP(S) proxy, a `ProxyAgent` for every host the `noProxy` list does not
 * exempt. The choice is made per URL, so a redirect to a CDN or a token realm on another host
 * follows the same rules as the registry itself.
 */
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import type { HttpProxyPlan } from '../../compiler/plan.ts';
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

  constructor(options: UpstreamDispatchersOptions) {
    this.#options = options;
  }

  /** The dispatcher for a request to `url`. */
  for(url: URL): Dispatcher {
    if (this.#options.dispatcher !== undefined) return this.#options.dispatcher;
    const proxy = this.#options.httpProxy;
    if (proxy === null || isNoProxy(url, proxy.noProxy)) {
      this.#direct ??= new Agent({
        keepAliveTimeout: 30_000,
        connections: 64,
        connect: { timeout: this.#options.timeoutMs },
      });
      return this.#direct;
    }
    this.#proxied ??= this.#createProxyAgent(proxy);
    return this.#proxied;
  }

  /** True when requests to `url` go through the outbound proxy. */
  isProxied(url: URL): boolean {
    const proxy = this.#options.httpProxy;
    return proxy !== null && !isNoProxy(url, proxy.noProxy);
  }

  #createProxyAgent(proxy: HttpProxyPlan): Dispatcher {
    const token =
      proxy.auth !== null && this.#options.proxyPassword !== undefined
        ? basicAuthorization({ username: proxy.auth.username, password: this.#options.proxyPassword })
        : undefined;
    return new ProxyAgent({
      uri: proxy.url,
      token,
      keepAliveTimeout: 30_000,
      connections: 64,
      connect: { timeout: this.#options.timeoutMs },
    });
  }

  /** Closes the pooled connections (not an injected dispatcher: its owner closes it). */
  async close(): Promise<void> {
    await Promise.all([this.#direct?.close(), this.#proxied?.close()]);
  }
}
