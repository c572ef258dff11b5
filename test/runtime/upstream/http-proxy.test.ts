import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProxyPlan } from '../../../compiler/plan.ts';
import { UpstreamClient, type UpstreamLog } from '../../../runtime/upstream/client.ts';
import { isUpstreamError } from '../../../runtime/upstream/errors.ts';
import { isNoProxy, UpstreamDispatchers } from '../../../runtime/upstream/http-proxy.ts';
import { SingleFlight } from '../../../runtime/upstream/single-flight.ts';
import { type ForwardProxy, startForwardProxy } from '../../helpers/forward-proxy.ts';

describe('isNoProxy', () => {
  const url = (u: string) => new URL(u);
  it('matches exact hosts, domain suffixes, leading-dot suffixes, ports and *', () => {
    expect(isNoProxy(url('http://127.0.0.1:5000/v2/'), ['localhost', '127.0.0.1'])).toBe(true);
    expect(isNoProxy(url('https://registry.example.com/v2/'), ['example.com'])).toBe(true);
    expect(isNoProxy(url('https://example.com/v2/'), ['.example.com'])).toBe(false);
    expect(isNoProxy(url('https://cdn.example.com/v2/'), ['.example.com'])).toBe(true);
    expect(isNoProxy(url('https://notexample.com/'), ['example.com'])).toBe(false);
    expect(isNoProxy(url('http://10.0.0.1:5000/'), ['10.0.0.1:5001'])).toBe(false);
    expect(isNoProxy(url('http://10.0.0.1:5000/'), ['10.0.0.1:5000'])).toBe(true);
    expect(isNoProxy(url('https://anything.test/'), ['*'])).toBe(true);
    expect(isNoProxy(url('http://[::1]:5000/'), ['::1'])).toBe(true);
  });
  it('routes per URL: proxied unless exempt', () => {
    const dispatchers = new UpstreamDispatchers({
      httpProxy: { url: 'http://127.0.0.1:3128', auth: null, noProxy: ['internal.test'] },
      timeoutMs: 1000,
    });
    expect(dispatchers.isProxied(new URL('https://registry-1.docker.io/v2/'))).toBe(true);
    expect(dispatchers.isProxied(new URL('http://mirror.internal.test/v2/'))).toBe(false);
    expect(dispatchers.for(new URL('http://a.internal.test/'))).not.toBe(dispatchers.for(new URL('http://b.example/')));
  });
});

describe('UpstreamDispatchers.route', () => {
  const plan = (url: string, noProxy: string[] = []): HttpProxyPlan => ({ url, auth: null, noProxy });
  it('forwards http:// targets in absolute form and tunnels https:// ones, per URL', () => {
    const dispatchers = new UpstreamDispatchers({
      httpProxy: plan('http://127.0.0.1:3128', ['cdn.test']),
      timeoutMs: 1000,
    });
    expect(dispatchers.route(new URL('http://127.0.0.1:5000/v2/'))).toBe('forward');
    expect(dispatchers.route(new URL('https://registry-1.docker.io/v2/'))).toBe('tunnel');
    expect(dispatchers.route(new URL('https://cdn.test/blob'))).toBe('direct');
    expect(dispatchers.for(new URL('http://a.example/'))).toBe(dispatchers.for(new URL('https://b.example/')));
  });
  it('tunnels every target behind an https:// proxy, and sends everything direct without a proxy', () => {
    const tls = new UpstreamDispatchers({ httpProxy: plan('https://proxy.test:3129'), timeoutMs: 1000 });
    expect(tls.route(new URL('http://127.0.0.1:5000/v2/'))).toBe('tunnel');
    const none = new UpstreamDispatchers({ httpProxy: null, timeoutMs: 1000 });
    expect(none.route(new URL('http://127.0.0.1:5000/v2/'))).toBe('direct');
  });
});

describe('UpstreamDispatchers.close', () => {
  it('refuses to hand out a dispatcher once closed (a new pool would never be closed)', async () => {
    const dispatchers = new UpstreamDispatchers({ httpProxy: null, timeoutMs: 1000 });
    const url = new URL('http://127.0.0.1:9/v2/');
    expect(dispatchers.for(url)).toBe(dispatchers.for(url));
    await dispatchers.close();
    expect(() => dispatchers.for(url)).toThrow(/closed/);
  });
});

describe('UpstreamClient through a forward proxy', () => {
  const PROXY_PASSWORD = 'proxy-pass-7f3a';
  /** `METHOD path host` of every request the stand-in registry and CDN received. */
  const seen: string[] = [];
  let forward: ForwardProxy;
  let registry: Server;
  let cdn: Server;
  let registryPort: number;
  let cdnPort: number;

  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    forward = await startForwardProxy({ auth: { username: 'egress', password: PROXY_PASSWORD } });
    cdn = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.host}`);
      res.end('blob bytes');
    });
    registry = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.host}`);
      const redirect = /^\/v2\/redirect-(https?)$/.exec(req.url ?? '');
      if (redirect) res.writeHead(307, { location: `${redirect[1]}://127.0.0.1:${cdnPort}/blob?sig=1` }).end();
      else res.end('manifest bytes');
    });
    cdnPort = await listen(cdn);
    registryPort = await listen(registry);
  });

  afterAll(async () => {
    await forward.stop();
    for (const server of [registry, cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** A client of `remote` through the forward proxy; `lines` receives every log call. */
  function client(remote: string, options: { password?: string; noProxy?: string[]; lines?: string[] } = {}) {
    const record =
      (level: string) =>
      (...args: unknown[]) =>
        options.lines?.push(`${level} ${JSON.stringify(args)}`);
    const log: UpstreamLog = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    return new UpstreamClient({
      url: remote,
      credentials: null,
      timeoutMs: 2000,
      httpProxy: {
        url: forward.url,
        auth: { username: 'egress', password: { env: 'P' } },
        noProxy: options.noProxy ?? [],
      },
      proxyPassword: options.password ?? PROXY_PASSWORD,
      log,
      retries: 0,
    });
  }

  const reset = () => {
    forward.requests.length = 0;
    seen.length = 0;
  };

  it('sends an http:// remote and an http:// redirect target as absolute-form requests, no CONNECT', async () => {
    reset();
    const upstream = client(`http://127.0.0.1:${registryPort}`);
    try {
      const manifest = await upstream.request({ method: 'GET', path: 'v2/team/app/manifests/v1' });
      expect(manifest.status).toBe(200);
      expect(await text(manifest.body)).toBe('manifest bytes');
      const blob = await upstream.request({ method: 'GET', path: 'v2/redirect-http', followRedirects: true });
      expect(await text(blob.body)).toBe('blob bytes');
    } finally {
      await upstream.close();
    }
    // The fake proxy answers 407 without the right Proxy-Authorization: these passed it.
    expect(forward.requests).toEqual([
      `GET http://127.0.0.1:${registryPort}/v2/team/app/manifests/v1`,
      `GET http://127.0.0.1:${registryPort}/v2/redirect-http`,
      `GET http://127.0.0.1:${cdnPort}/blob?sig=1`,
    ]);
    expect(seen).toEqual([
      `GET /v2/team/app/manifests/v1 127.0.0.1:${registryPort}`,
      `GET /v2/redirect-http 127.0.0.1:${registryPort}`,
      `GET /blob?sig=1 127.0.0.1:${cdnPort}`,
    ]);
  });

  it('tunnels an https:// remote and an https:// redirect target with CONNECT', async () => {
    reset();
    // Both servers speak plain HTTP, so the TLS handshake inside each tunnel fails: the tunnel is the point.
    const tls = client(`https://127.0.0.1:${registryPort}`);
    const plain = client(`http://127.0.0.1:${registryPort}`);
    try {
      await expect(tls.request({ method: 'GET', path: 'v2/' })).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
      await expect(
        plain.request({ method: 'GET', path: 'v2/redirect-https', followRedirects: true }),
      ).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    } finally {
      await Promise.all([tls.close(), plain.close()]);
    }
    expect(forward.requests).toEqual([
      `CONNECT 127.0.0.1:${registryPort}`,
      `GET http://127.0.0.1:${registryPort}/v2/redirect-https`,
      `CONNECT 127.0.0.1:${cdnPort}`,
    ]);
  });

  it('sends a host on the noProxy list direct', async () => {
    reset();
    const upstream = client(`http://127.0.0.1:${registryPort}`, { noProxy: ['127.0.0.1'] });
    try {
      expect((await upstream.request({ method: 'GET', path: 'v2/' })).status).toBe(200);
    } finally {
      await upstream.close();
    }
    expect(forward.requests).toEqual([]);
    expect(seen).toEqual([`GET /v2/ 127.0.0.1:${registryPort}`]);
  });

  it('fails on a refused proxy password without showing it in the error or the log', async () => {
    reset();
    const wrong = 'wrong-proxy-secret-91c2';
    const lines: string[] = [];
    const upstream = client(`http://127.0.0.1:${registryPort}`, { password: wrong, lines });
    let failure: unknown;
    try {
      await upstream.request({ method: 'GET', path: 'v2/team/app/manifests/v1' });
    } catch (error) {
      failure = error;
    } finally {
      await upstream.close();
    }
    // The code is the error mapping's business (errors.ts); here: the proxy's 407 surfaced as an upstream error.
    expect(isUpstreamError(failure)).toBe(true);
    expect((failure as Error).message).toContain('407');
    expect(seen).toEqual([]);
    const token = Buffer.from(`egress:${wrong}`).toString('base64');
    const text = [String(failure), JSON.stringify(failure), String((failure as Error).cause), ...lines].join('\n');
    for (const secret of [wrong, token]) expect(text).not.toContain(secret);
  });
});

describe('SingleFlight', () => {
  it('shares one in-flight call per key and forgets it once settled', async () => {
    const flight = new SingleFlight<number>();
    let calls = 0;
    let release: (v: number) => void = () => {};
    const work = () =>
      new Promise<number>((resolve) => {
        calls++;
        release = resolve;
      });
    const a = flight.run('k', work);
    const b = flight.run('k', work);
    expect([a.joined, b.joined]).toEqual([false, true]);
    release(7);
    expect(await Promise.all([a.promise, b.promise])).toEqual([7, 7]);
    expect(flight.size).toBe(0);
    const failing = flight.run('k', async () => {
      calls++;
      throw new Error('boom');
    });
    await expect(failing.promise).rejects.toThrow('boom');
    expect(flight.run('k', async () => ++calls).joined).toBe(false);
    expect(calls).toBe(3);
  });
});
