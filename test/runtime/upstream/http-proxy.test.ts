import { describe, expect, it } from 'vitest';
import { isNoProxy, UpstreamDispatchers } from '../../../runtime/upstream/http-proxy.ts';
import { SingleFlight } from '../../../runtime/upstream/single-flight.ts';

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
