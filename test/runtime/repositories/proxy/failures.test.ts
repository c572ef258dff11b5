/**
 * What a proxy repository's client is told when the upstream fails, and what the log says: for
 * each reason (unreachable, timed out, the outbound proxy refused, our credentials refused, rate
 * limited, no access) the RegistryError's code, status, message and detail, and that no password
 * or Authorization value appears in it or the log. A 503 is logged by the HTTP error handler (see
 * the end-to-end test), so the repository logs only what the handler does not: a 404 or a 429.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../../runtime/oci/errors.ts';
import { translateProxyError } from '../../../../runtime/repositories/proxy/failures.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { UpstreamError } from '../../../../runtime/upstream/errors.ts';
import { type CountingUpstream, startCountingUpstream } from '../../../helpers/counting-upstream.ts';
import { startRefusingProxy } from '../../../helpers/failing-peers.ts';
import { freePort } from '../../../helpers/free-port.ts';
import { type ProxyPlanOverrides, proxyPlan, TestProxies, testLog } from '../../../helpers/proxy-setup.ts';

const SECRET = 'wr0ng-s3cret-value';
const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

/** Every warn line: its fields and message. */
const warnings: { fields: Record<string, unknown>; message: string }[] = [];
const log = Object.assign(testLog(), {
  warn(fields: Record<string, unknown>, message?: string) {
    warnings.push({ fields, message: String(message) });
  },
});
let now = 1_000_000;
const proxies = new TestProxies({ log, now: () => now });
let upstream: CountingUpstream | undefined;

beforeEach(() => {
  warnings.length = 0;
});
afterEach(async () => {
  await proxies.closeAll();
  await upstream?.stop();
  upstream = undefined;
});

/** The RegistryError a call rejects with; checks that neither it nor the log shows `secrets`. */
async function refusal(call: Promise<unknown>, ...secrets: string[]): Promise<RegistryError> {
  const error = await call.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  const shown = JSON.stringify({ body: (error as RegistryError).toJSON(), warnings });
  for (const secret of secrets) expect(shown).not.toContain(secret);
  return error as RegistryError;
}

/**
 * A 503 is left to the HTTP error handler's log line; anything else is logged here once, with the
 * client's message and its detail as fields.
 */
function expectLogged(error: RegistryError) {
  if (error.status >= 500) {
    expect(warnings).toEqual([]);
    return;
  }
  expect(warnings).toHaveLength(1);
  expect(warnings[0]!.message).toBe(error.message);
  expect(warnings[0]!.fields).toMatchObject(error.detail as Record<string, unknown>);
}

function proxy(url: string, overrides: ProxyPlanOverrides = {}, env: NodeJS.ProcessEnv = {}) {
  return proxies.create(proxyPlan(url, overrides), { env });
}

describe('ProxyRepository: why the upstream failed', () => {
  it('unreachable: 503 saying the connection was refused', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await refusal(proxy(url).getManifest('team/app', 'v1'));
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect(error.message).toBe(
      `proxy repository upstream: the upstream ${url} is unreachable (connection refused) and nothing is cached`,
    );
    expect(error.detail).toEqual({
      repository: 'upstream',
      upstream: url,
      reason: 'connection refused',
      upstreamError: 'UPSTREAM_UNREACHABLE',
    });
    expectLogged(error);
  });

  it('timed out: 503 saying how long it waited', async () => {
    upstream = await startCountingUpstream();
    upstream.faults.responseDelayMs = 2000;
    const error = await refusal(proxy(upstream.url, { remote: { timeoutMs: 200 } }).getManifest('app', 'v1'));
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect(error.message).toBe(
      `proxy repository upstream: the upstream ${upstream.url} timed out after 200ms waiting for a response, and nothing is cached`,
    );
    expect(error.detail).toMatchObject({ upstreamError: 'UPSTREAM_TIMEOUT' });
    expectLogged(error);
  });

  it('our credentials refused: 503 saying so (not a 404), without the password; stale copies still served', async () => {
    upstream = await startCountingUpstream({ basic: { username: 'puller', password: 'right-password' } });
    const image = upstream.addImage('app', 'v1', [Buffer.from('layer')]);
    const auth = { username: 'puller', password: { env: 'UP_PW' } };
    const store = createMemoryBlobStore();
    const wrong = proxies.create(proxyPlan(upstream.url, { remote: { auth } }), { env: { UP_PW: SECRET }, store });
    const error = await refusal(wrong.getManifest('app', 'v1'), SECRET, basic('puller', SECRET));
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect(error.message).toBe(
      `proxy repository upstream: the upstream ${upstream.url} refused our credentials (401 from the registry) ` +
        'and nothing is cached; check remote.auth',
    );
    expect(error.detail).toMatchObject({ upstreamError: 'UPSTREAM_CREDENTIALS_REFUSED', upstreamStatus: 401 });
    expectLogged(error);
    // Cached while the password was right, the image is served stale once it is refused.
    const right = proxies.create(proxyPlan(upstream.url, { remote: { auth } }), {
      env: { UP_PW: 'right-password' },
      store,
    });
    expect((await right.getManifest('app', 'v1')).digest).toBe(image.digest);
    now += 120_000;
    expect((await wrong.getManifest('app', 'v1')).digest).toBe(image.digest);
    expect(warnings.at(-1)?.message).toMatch(/stale/);
  });

  it('rate-limited: 429 with Retry-After, saying so, logged once', async () => {
    upstream = await startCountingUpstream();
    upstream.faults.rateLimit = '17';
    const error = await refusal(proxy(upstream.url).getManifest('app', 'v1'));
    expect(error).toMatchObject({ code: 'TOOMANYREQUESTS', status: 429, headers: { 'Retry-After': '17' } });
    const at = (error.detail as { retryAt?: string }).retryAt;
    expect(Date.parse(at ?? '') - Date.now()).toBeGreaterThan(15_000);
    expect(error.message).toBe(
      `proxy repository upstream: the upstream ${upstream.url} rate-limits us (429, retry after 17s (at ${at})) and nothing is cached`,
    );
    expect(error.detail).toMatchObject({
      upstreamError: 'UPSTREAM_RATE_LIMITED',
      upstreamStatus: 429,
      retryAfterSeconds: 17,
    });
    expectLogged(error);
  });

  it('anonymous 401: still the not-found error (Docker Hub answers so for missing images), saying why', async () => {
    upstream = await startCountingUpstream({ basic: { username: 'puller', password: 'right-password' } });
    const error = await refusal(proxy(upstream.url).getManifest('app', 'v1'));
    expect(error).toMatchObject({ code: 'MANIFEST_UNKNOWN', status: 404 });
    expect(error.message).toBe(
      `manifest unknown to registry: proxy repository upstream: the upstream ${upstream.url} refused access ` +
        '(401: it asks for credentials and none are configured); registries answer so for images that do not ' +
        'exist, or that need credentials (remote.auth)',
    );
    expect(error.detail).toMatchObject({ name: 'app', reference: 'v1', upstreamError: 'UPSTREAM_UNAUTHORIZED' });
    expectLogged(error);
  });

  it('the outbound proxy refusing the tunnel: 503 naming the proxy and the target, its credentials never shown', async () => {
    const refusing = await startRefusingProxy(403);
    try {
      const httpProxy = {
        url: refusing.url,
        auth: { username: 'proxy-user', password: { env: 'PROXY_PW' } },
        noProxy: [],
      };
      const repo = proxy('https://127.0.0.1:5999', { httpProxy }, { PROXY_PW: SECRET });
      const header = basic('proxy-user', SECRET);
      const error = await refusal(repo.statBlob('app', `sha256:${'a'.repeat(64)}`), SECRET, header);
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
      expect(error.message).toBe(
        `proxy repository upstream: the upstream https://127.0.0.1:5999 is unreachable: the outbound proxy ` +
          `${refusing.url} refused the CONNECT tunnel to 127.0.0.1:5999 (403), and nothing is cached`,
      );
      expect(error.detail).toMatchObject({ upstreamError: 'UPSTREAM_PROXY_REFUSED' });
      expectLogged(error);
      expect(refusing.authorizations).toEqual([`Basic ${header}`]);
    } finally {
      await refusing.stop();
    }
  });

  it('never shows the userinfo of an upstream URL', () => {
    const error = new UpstreamError('UPSTREAM_UNREACHABLE', 'GET x: connection refused', {
      reason: 'connection refused',
    });
    const translated = translateProxyError(error, new RegistryError('MANIFEST_UNKNOWN'), {
      repository: 'r',
      url: `https://me:${SECRET}@registry.test`,
      log,
    });
    expect(translated.message).toBe(
      'proxy repository r: the upstream https://registry.test is unreachable (connection refused) and nothing is cached',
    );
    expect(JSON.stringify({ body: translated.toJSON(), warnings })).not.toContain(SECRET);
  });
});
