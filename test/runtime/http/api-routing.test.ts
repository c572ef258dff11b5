/** Name routing per listener, name/digest validation, error rendering, ops endpoints. */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ListenerSet } from '../../../runtime/server/listeners.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, hostedPlan, listenerPlan, makePlan, sha256, silentLog } from './fakes.ts';
import { createHarness, type Harness } from './harness.ts';

const ROUTED = makePlan({
  repositories: [hostedPlan('private'), hostedPlan('hub'), hostedPlan('quay'), hostedPlan('docs')],
  listeners: [
    listenerPlan({
      defaultRepository: 'private',
      paths: { 'docker-hub': 'hub' },
      virtualHosts: { 'docs.example.test': 'docs' },
      mirrors: { 'docker.io': 'hub', 'quay.io': 'quay' },
    }),
  ],
});
const EMPTY = sha256('');
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Which repository and image a GET of `url` reached (via the fake's call log). */
async function routeOf(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await h!.app.inject({ method: 'GET', url, headers });
  if (res.statusCode !== 404 || res.json().errors[0].code !== 'BLOB_UNKNOWN')
    return `${res.statusCode} ${res.json().errors[0].code}`;
  for (const [name, repository] of h!.world.repositories) {
    const call = repository.calls.pop();
    if (call) return `${name} ${call.split(' ')[1]}`;
  }
  return 'nowhere';
}

describe('routing', () => {
  it('follows the plan order: ?ns= mirror, virtual host, path segment, /repository/<repo>/v2, default', async () => {
    h = await createHarness(ROUTED);
    expect(await routeOf(`/v2/library/alpine/blobs/${EMPTY}?ns=docker.io`)).toBe('hub library/alpine');
    expect(await routeOf(`/v2/coreos/etcd/blobs/${EMPTY}?ns=quay.io`)).toBe('quay coreos/etcd');
    expect(await routeOf(`/v2/app/blobs/${EMPTY}?ns=ghcr.io`)).toBe('private app');
    expect(await routeOf(`/v2/app/blobs/${EMPTY}`, { host: 'docs.example.test:5000' })).toBe('docs app');
    expect(await routeOf(`/v2/docker-hub/library/alpine/blobs/${EMPTY}`)).toBe('hub library/alpine');
    expect(await routeOf(`/repository/docker-hub/v2/library/alpine/blobs/${EMPTY}`)).toBe('hub library/alpine');
    expect(await routeOf(`/repository/quay/v2/coreos/etcd/blobs/${EMPTY}`)).toBe('quay coreos/etcd');
    expect(await routeOf(`/repository/unknown/v2/x/blobs/${EMPTY}`)).toBe('404 NAME_UNKNOWN');
    expect(await routeOf(`/v2/docker-hub/blobs/${EMPTY}`)).toBe('private docker-hub');
    expect(await routeOf(`/v2/myorg/app/blobs/${EMPTY}`)).toBe('private myorg/app');
  });

  it('NAME_UNKNOWN without a default repository; upload Locations keep the route (prefix and ns)', async () => {
    h = await createHarness(
      makePlan({
        repositories: [hostedPlan('hub')],
        listeners: [listenerPlan({ defaultRepository: null, paths: { hub: 'hub' }, mirrors: { 'docker.io': 'hub' } })],
      }),
    );
    const res = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list' });
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe('NAME_UNKNOWN');
    const viaPrefix = await h.app.inject({ method: 'POST', url: '/repository/hub/v2/x/blobs/uploads/' });
    expect(viaPrefix.headers.location).toMatch(/^\/repository\/hub\/v2\/x\/blobs\/uploads\/[\w-]+$/);
    const viaNs = await h.app.inject({ method: 'POST', url: '/v2/x/blobs/uploads/?ns=docker.io' });
    expect(viaNs.headers.location).toMatch(/^\/v2\/x\/blobs\/uploads\/[\w-]+\?ns=docker.io$/);
    const patch = await h.app.inject({
      method: 'PATCH',
      url: viaNs.headers.location as string,
      payload: 'abc',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(patch.statusCode).toBe(202);
  });

  it('catalog names are plain for the default repository and prefixed for path routes', async () => {
    h = await createHarness(ROUTED);
    const put = (url: string) => h!.app.inject({ method: 'POST', url: `${url}/blobs/uploads/?digest=${EMPTY}` });
    await put('/v2/library/alpine');
    await put('/v2/docker-hub/library/busybox');
    await put('/v2/mine');
    expect((await h.app.inject({ method: 'GET', url: '/v2/_catalog' })).json().repositories).toEqual([
      'docker-hub/library/busybox',
      'library/alpine',
      'mine',
    ]);
    const mirror = await h.app.inject({ method: 'GET', url: '/v2/_catalog?ns=docker.io' });
    expect(mirror.json().repositories).toEqual(['library/busybox']);
  });
});

describe('validation and errors', () => {
  it('NAME_INVALID for upper case, bad separators, long names; a repository never sees them', async () => {
    h = await createHarness();
    for (const name of [
      'MyApp',
      'a..b',
      'a/-b',
      'a//b',
      '_a',
      'a_',
      `${'a'.repeat(250)}/${'b'.repeat(10)}`,
      'a%2F..%2Fb',
    ]) {
      const res = await h.app.inject({ method: 'GET', url: `/v2/${name}/manifests/latest` });
      expect(res.statusCode, name).toBe(400);
      expect(res.json().errors[0].code, name).toBe('NAME_INVALID');
    }
    expect(h.world.repositories.get('private')!.calls).toEqual([]);
  });

  it('unknown endpoint → 404, wrong method → 405 UNSUPPORTED with Allow, every response versioned', async () => {
    h = await createHarness();
    const unknown = await h.app.inject({ method: 'GET', url: '/v2/app/unknown' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const wrong = await h.app.inject({ method: 'POST', url: '/v2/app/tags/list' });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.json().errors[0].code).toBe('UNSUPPORTED');
    expect(wrong.headers.allow).toBe('GET');
    const elsewhere = await h.app.inject({ method: 'GET', url: '/favicon.ico' });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('an unexpected error → 500 UNKNOWN with the request id only', async () => {
    h = await createHarness();
    const repository = h.world.repositories.get('private')!;
    repository.listTags = async () => {
      throw new Error('disk on fire at /secret/path');
    };
    const res = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list' });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body.errors[0].code).toBe('UNKNOWN');
    expect(body.errors[0].detail.requestId).toMatch(/^[\w-]{36}$/);
    expect(res.body).not.toContain('fire');
  });

  it('GET /v2/ answers {} per the base scope; 401 with the challenge when anonymous sees nothing', async () => {
    h = await createHarness();
    const ok = await h.app.inject({ method: 'GET', url: '/v2/' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({});
    expect((await h.app.inject({ method: 'GET', url: '/v2' })).statusCode).toBe(200);
    await h.close();
    h = await createHarness(makePlan({ repositories: [hostedPlan('private', { access: { anonymous: [] } })] }));
    const denied = await h.app.inject({ method: 'GET', url: '/v2/' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Basic realm="regctl"');
    expect(h.world.controllers[0]!.scopes).toEqual([{ base: true, ping: true, repositories: ['private'] }]);
  });

  it('/-/health and /-/status', async () => {
    h = await createHarness(ROUTED);
    expect((await h.app.inject({ method: 'GET', url: '/-/health' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ method: 'HEAD', url: '/-/health' })).statusCode).toBe(200);
    const status = (await h.app.inject({ method: 'GET', url: '/-/status' })).json();
    expect(status.planId).toBe('plan-1');
    expect(status.lastReload).toMatchObject({ ok: true, planId: 'plan-1' });
    expect(status.repositories.map((r: { name: string }) => r.name)).toEqual(['private', 'hub', 'quay', 'docs']);
    expect(status.listeners[0]).toMatchObject({
      id: '127.0.0.1:0',
      defaultRepository: 'private',
      paths: { 'docker-hub': 'hub' },
    });
    expect(typeof status.uptimeSeconds).toBe('number');
  });
});

describe('over a real socket', () => {
  /** Sends a request line exactly as written (HTTP clients normalise `..` away before sending). */
  function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk;
      });
      socket.on('error', reject);
      socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), body: data.split('\r\n\r\n')[1] ?? '' }));
    });
  }

  it('raw `..` and `%2e%2e` paths (not normalised by a client) are NAME_INVALID', async () => {
    const world = new FakeWorld();
    const plan = makePlan();
    const holder = new PlanHolder(
      await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories }),
    );
    const listeners = new ListenerSet({ holder, log: silentLog });
    await listeners.applyListeners(null, plan);
    const { port } = listeners.get('127.0.0.1:0')!;
    try {
      for (const path of [
        '/v2/../../etc/passwd/manifests/x',
        '/v2/app/%2e%2e/%2e%2e/manifests/x',
        '/v2/app/%2E%2E/x/tags/list',
        '/v2/a/./b/blobs/' + EMPTY,
      ]) {
        const res = await rawGet(port, path);
        const body = JSON.parse(res.body) as { errors: { code: string }[] };
        expect(res.status, path).toBe(400);
        expect(body.errors[0]!.code, path).toBe('NAME_INVALID');
      }
      expect(world.repositories.get('private')!.calls).toEqual([]);
    } finally {
      await listeners.close();
      await holder.close();
    }
  });
});
