import { createHash } from 'node:crypto';
/** The v2 routes with the real access controller (runtime/auth): the docker login flows end to end. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { createAccessController } from '../../../runtime/auth/index.ts';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, hostedPlan, listenerPlan, makePlan, silentLog } from './fakes.ts';

const ENV = { CI_PASSWORD: 'ci-secret' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function securePlan(tokens: boolean): Plan {
  const base = makePlan({
    repositories: [
      hostedPlan('private', { access: { anonymous: [] } }),
      hostedPlan('public', { access: { anonymous: ['pull'] } }),
    ],
    listeners: [listenerPlan({ paths: { public: 'public' } })],
  });
  const permissions = [{ repositories: ['private'], actions: ['pull', 'push'] as const }];
  return {
    ...base,
    security: {
      ...base.security,
      users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['developer'], permissions }],
      roles: { developer: permissions },
      token: { ...base.security.token, enabled: tokens },
    },
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function appFor(plan: Plan) {
  const world = new FakeWorld();
  const factories = { ...world.factories, createAccessController };
  const holder = new PlanHolder(await createRuntimeState(plan, { env: ENV, log: silentLog, factories }));
  const app = createRegistryApp({ holder, listenerId: plan.listeners[0]!.id, log: silentLog });
  closers.push(async () => {
    await app.close();
    await holder.close();
  });
  return Object.assign(app, { world });
}

describe('with runtime/auth', () => {
  it('token flow: ping 401 Bearer → /-/token with Basic → Bearer on the API', async () => {
    const app = await appFor(securePlan(true));
    const ping = await app.inject({ method: 'GET', url: '/v2/', headers: { host: 'registry.test:5000' } });
    // Users are configured, so the anonymous ping is challenged even though anonymous may pull
    // `public`: a client learns there how to authenticate, and one told 200 never would.
    expect(ping.statusCode).toBe(401);
    expect(ping.headers['www-authenticate']).toBe('Bearer realm="http://registry.test:5000/-/token",service="regctl"');
    // A client without credentials answers with an anonymous token, and pulls what anonymous may.
    const anonymous = await app.inject({
      method: 'GET',
      url: '/-/token?service=regctl&scope=repository:public/lib:pull',
      headers: { host: 'registry.test:5000' },
    });
    expect(anonymous.statusCode).toBe(200);
    const anonymousPing = await app.inject({
      method: 'GET',
      url: '/v2/',
      headers: { host: 'registry.test:5000', authorization: `Bearer ${anonymous.json().token as string}` },
    });
    expect(anonymousPing.statusCode).toBe(200);
    const list = await app.inject({
      method: 'GET',
      url: '/v2/public/lib/tags/list',
      headers: { host: 'registry.test:5000', authorization: `Bearer ${anonymous.json().token as string}` },
    });
    expect(list.json().errors?.[0]?.code).toBe('NAME_UNKNOWN');
    const denied = await app.inject({
      method: 'POST',
      url: '/v2/app/blobs/uploads/',
      headers: { host: 'registry.test:5000' },
    });
    expect(denied.statusCode).toBe(401);
    const challenge = denied.headers['www-authenticate'] as string;
    expect(challenge).toContain('Bearer realm="http://registry.test:5000/-/token"');
    expect(challenge).toContain('scope="repository:app:push"');

    const token = await app.inject({
      method: 'GET',
      url: '/-/token?service=regctl&scope=repository:app:pull,push',
      headers: { host: 'registry.test:5000', authorization: basic('ci', 'ci-secret') },
    });
    expect(token.statusCode).toBe(200);
    const jwt = token.json().token as string;
    expect(jwt.split('.')).toHaveLength(3);

    const pushed = await app.inject({
      method: 'POST',
      url: '/v2/app/blobs/uploads/',
      headers: { host: 'registry.test:5000', authorization: `Bearer ${jwt}` },
    });
    expect(pushed.statusCode).toBe(202);
    // the token names `app`, not `public/app`
    const other = await app.inject({
      method: 'POST',
      url: '/v2/public/app/blobs/uploads/',
      headers: { host: 'registry.test:5000', authorization: `Bearer ${jwt}` },
    });
    expect([401, 403]).toContain(other.statusCode);
  });

  it('Basic only: wrong password 401, right password passes, missing permission 403', async () => {
    const app = await appFor(securePlan(false));
    const wrong = await app.inject({
      method: 'GET',
      url: '/v2/app/tags/list',
      headers: { authorization: basic('ci', 'nope') },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const right = await app.inject({
      method: 'GET',
      url: '/v2/app/tags/list',
      headers: { authorization: basic('ci', 'ci-secret') },
    });
    expect(right.statusCode).toBe(404);
    expect(right.json().errors[0].code).toBe('NAME_UNKNOWN');
    const forbidden = await app.inject({
      method: 'DELETE',
      url: '/v2/app/manifests/v1',
      headers: { authorization: basic('ci', 'ci-secret') },
    });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().errors[0].code).toBe('DENIED');
  });

  it('catalog lists only what the caller may pull', async () => {
    const app = await appFor(securePlan(false));
    const data = Buffer.from('layer');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const pushed = await app.inject({
      method: 'POST',
      url: `/v2/app/blobs/uploads/?digest=${digest}`,
      payload: data,
      headers: { authorization: basic('ci', 'ci-secret'), 'content-type': 'application/octet-stream' },
    });
    expect(pushed.statusCode).toBe(201);
    await app.world.repositories.get('public')!.putManifest('lib', 'v1', Buffer.from('{}'), 'application/json');

    const anonymous = await app.inject({ method: 'GET', url: '/v2/_catalog' });
    expect(anonymous.json()).toEqual({ repositories: ['public/lib'] });
    const mine = await app.inject({
      method: 'GET',
      url: '/v2/_catalog',
      headers: { authorization: basic('ci', 'ci-secret') },
    });
    expect(mine.json()).toEqual({ repositories: ['app', 'public/lib'] });
  });
});
