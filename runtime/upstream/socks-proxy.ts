/**
 * Outbound connections through a SOCKS5 proxy (`httpProxy.url: socks5://…` or `socks5h://…`), on
 * undici's `Socks5ProxyAgent`: one pool per target origin, each connection a `CONNECT` through the
 * proxy, TLS to an `https://` target inside that tunnel, username/password (RFC 1929) when the plan
 * gives `auth`.
 *
 * The two schemes differ, as they do for curl, in who resolves the target's host name:
 * - `socks5h://`: the proxy. The name goes in the request (address type "domain"), so a registry
 *   only the proxy's side can resolve (split DNS, a V2Ray or SSH tunnel) is reachable.
 * - `socks5://`: regctl, with the system resolver; the proxy is given the address. undici passes
 *   names through, so this subclass resolves before the handshake (`createSocks5Connection` is the
 *   agent's step that opens one tunnel; the TLS server name stays the URL's host name).
 */
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { buildConnector, type Dispatcher, Socks5ProxyAgent } from 'undici';

/** True for the URL schemes this module serves. */
export function isSocksProxyUrl(url: string): boolean {
  return /^socks5h?:\/\//i.test(url);
}

/** True for `socks5h://`: the proxy, not regctl, resolves the target's host name. */
export function resolvesRemotely(url: string): boolean {
  return /^socks5h:\/\//i.test(url);
}

/** Options of {@link createSocksProxyAgent}. */
export interface SocksProxyOptions {
  /** `socks5://host:port` or `socks5h://host:port`, without credentials. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Connect timeout to the proxy, in ms. */
  readonly timeoutMs: number;
}

/** The agent's own step that opens one tunnel (a public method of undici's class, untyped there). */
interface TunnelOpener {
  createSocks5Connection(host: string, port: number): Promise<Socket>;
}

class LocallyResolvingSocks5Agent extends Socks5ProxyAgent {
  async createSocks5Connection(host: string, port: number): Promise<Socket> {
    const { address } = await lookup(host.replace(/^\[|\]$/g, ''));
    const opener = Socks5ProxyAgent.prototype as unknown as TunnelOpener;
    return opener.createSocks5Connection.call(this, address, port);
  }
}

/** The dispatcher for every request that goes through the SOCKS5 proxy of `options`. */
export function createSocksProxyAgent(options: SocksProxyOptions): Dispatcher {
  const proxy = new URL(options.url);
  const remoteDns = resolvesRemotely(options.url);
  // undici accepts socks5:// (and socks://) only; the resolution is this module's choice.
  const uri = `socks5://${proxy.host}`;
  const agentOptions = {
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    // Plain TCP to the proxy, with the upstream's connect timeout (a dead proxy fails fast).
    connect: buildConnector({ timeout: options.timeoutMs }),
  };
  return withoutExperimentalNotice(() =>
    remoteDns ? new Socks5ProxyAgent(uri, agentOptions) : new LocallyResolvingSocks5Agent(uri, agentOptions),
  );
}

/**
 * undici's first Socks5ProxyAgent calls `process.emitWarning('SOCKS5 proxy support is
 * experimental…')`, which Node prints to stderr outside the JSON log. The agent is covered by the
 * end-to-end tests against a real SOCKS5 server; that one notice is dropped, synchronously, while
 * the constructor runs (every other warning still goes out).
 */
function withoutExperimentalNotice<T>(construct: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).startsWith('SOCKS5 proxy support is experimental')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return construct();
  } finally {
    process.emitWarning = emitWarning;
  }
}
