/**
 * The web UI's pieces without a browser: escaping templates, sessions, URL parsing, and the
 * plugin through `inject()` with the real access controller over fake repositories — who sees
 * which repository, 404 rather than 403, the login form's origin check and cookie, `ui: false`.
 * The browser tests with real images are test/e2e/ui.test.ts.
 */
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { createAccessController } from '../../../runtime/auth/index.ts';
import type { AuthFailure, EventSink } from '../../../runtime/events.ts';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { SCRIPT, STYLE_SHEET } from '../../../runtime/ui/assets.ts';
import { escapeHtml, html, raw } from '../../../runtime/ui/html.ts';
import { pageSize } from '../../../runtime/ui/pages/context.ts';
import { parseRepositoryPath, uiPlugin } from '../../../runtime/ui/plugin.ts';
import { SessionStore } from '../../../runtime/ui/sessions.ts';
import { FakeWorld, hostedPlan, listenerPlan, makePlan, silentLog } from '../http/fakes.ts';

const ENV = { CI_PASSWORD: 'ci-secret' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const HOST = 'registry.test:5000';

function plan(ui = true): Plan {
  const base = makePlan({
    repositories: [
      hostedPlan('private', { access: { anonymous: [] } }),
      hostedPlan('public', { access: { anonymous: ['pull'] } }),
      hostedPlan('internal', { access: { anonymous: [] } }),
    ],
    listeners: [listenerPlan({ paths: { public: 'public', private: 'private', internal: 'internal' } })],
  });
  const permissions = [{ repositories: ['private'], actions: ['pull'] as const }];
  return {
    ...base,
    security: {
      ...base.security,
      users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['reader'], permissions }],
      roles: { reader: permissions },
    },
    ...(ui ? {} : { ui: { enabled: false } }),
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function appFor(p: Plan) {
  const world = new FakeWorld();
  const factories = { ...world.factories, createAccessController };
  const holder = new PlanHolder(await createRuntimeState(p, { env: ENV, log: silentLog, factories }));
  const app = createRegistryApp({ holder, listenerId: p.listeners[0]!.id, log: silentLog });
  closers.push(async () => {
    await app.close();
    await holder.close();
  });
  return app;
}

describe('html', () => {
  it('escapes every interpolated value unless it is markup made by html or raw', () => {
    const tag = '<script>alert("x")</script>';
    const out = html`<p title="${`"'&`}">${tag}${html`<b>${tag}</b>`}${[1, '<i>', null, undefined, false]}${raw('<br>')}</p>`;
    expect(out.text).toBe(`<p title="&quot;&#39;&amp;">${escapeHtml(tag)}<b>${escapeHtml(tag)}</b>1&lt;i&gt;<br></p>`);
    expect(out.text).not.toContain('<script>');
  });
});

describe('SessionStore', () => {
  it('maps a random id to its user until expiry or logout, bounded', () => {
    let now = 1_000;
    const sessions = new SessionStore({ ttlMs: 100, maxSessions: 2, now: () => now });
    const a = sessions.create('alice');
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.user(a)).toBe('alice');
    expect(sessions.user(`${a.slice(0, -1)}x`)).toBeUndefined();
    expect(sessions.user('not-an-id')).toBeUndefined();
    const b = sessions.create('bob');
    sessions.create('carol'); // the oldest (alice) goes
    expect(sessions.user(a)).toBeUndefined();
    expect(sessions.user(b)).toBe('bob');
    sessions.delete(b);
    expect(sessions.user(b)).toBeUndefined();
    const c = sessions.create('dave');
    now += 100;
    expect(sessions.user(c)).toBeUndefined();
  });
});

describe('pageSize', () => {
  it('is 50 unless ?n= asks for 1 to 100; more is capped at 100', () => {
    const n = (q: string) => pageSize(new URLSearchParams(q));
    expect([n(''), n('n=0'), n('n=x'), n('n=7'), n('n=100'), n('n=5000')]).toEqual([50, 50, 50, 7, 100, 100]);
  });
});

describe('parseRepositoryPath', () => {
  it('splits the repository, the image (with slashes) and the page', () => {
    expect(parseRepositoryPath('apps')).toEqual({ page: 'repository', repository: 'apps' });
    expect(parseRepositoryPath('apps/team/web/-/tags')).toEqual({
      page: 'tags',
      repository: 'apps',
      image: 'team/web',
    });
    expect(parseRepositoryPath('apps/web')).toEqual({ page: 'tags', repository: 'apps', image: 'web' });
    expect(parseRepositoryPath('apps/web/-/tag/1.0')).toEqual({
      page: 'tag',
      repository: 'apps',
      image: 'web',
      tag: '1.0',
    });
    expect(parseRepositoryPath('apps/web/-/m/sha256%3Aab')).toEqual({
      page: 'manifest',
      repository: 'apps',
      image: 'web',
      digest: 'sha256:ab',
    });
    expect(parseRepositoryPath('apps/web/-/m/sha256:ab/blob/sha256:cd')).toEqual({
      page: 'blob',
      repository: 'apps',
      image: 'web',
      manifest: 'sha256:ab',
      digest: 'sha256:cd',
    });
    for (const bad of ['', 'apps/web/-/nope', 'apps//web/-/tags', 'apps/-/tags', 'apps/%E0%A4%A']) {
      expect(parseRepositoryPath(bad), bad).toBeUndefined();
    }
  });
});

describe('the UI plugin', () => {
  it('shows anonymous visitors only what anonymous may pull; the rest is a login redirect, never a 403', async () => {
    const app = await appFor(plan());
    const home = await app.inject({ url: '/ui/', headers: { host: HOST } });
    expect(home.statusCode).toBe(200);
    expect(home.headers['content-security-policy']).toContain("script-src 'self'");
    expect(home.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(home.headers['x-frame-options']).toBe('DENY');
    expect(home.headers['cache-control']).toBe('no-store');
    expect(home.body).toContain('href="/ui/r/public"');
    expect(home.body).not.toContain('private');
    const hidden = await app.inject({ url: '/ui/r/private', headers: { host: HOST } });
    expect(hidden.statusCode).toBe(303);
    expect(hidden.headers.location).toBe('/ui/login?next=%2Fui%2Fr%2Fprivate');
    const missing = await app.inject({ url: '/ui/r/nothing', headers: { host: HOST } });
    expect(missing.statusCode).toBe(303);
    expect((await app.inject({ url: '/ui/plan', headers: { host: HOST } })).statusCode).toBe(303);
  });

  it('takes Basic credentials like the v2 API, and refuses wrong ones with 401', async () => {
    const app = await appFor(plan());
    const home = await app.inject({ url: '/ui/', headers: { host: HOST, authorization: basic('ci', 'ci-secret') } });
    expect(home.body).toContain('href="/ui/r/private"');
    expect(home.body).not.toContain('internal');
    expect(home.body).toContain('Signed in as <strong>ci</strong>');
    const hidden = await app.inject({
      url: '/ui/r/internal',
      headers: { host: HOST, authorization: basic('ci', 'ci-secret') },
    });
    expect(hidden.statusCode).toBe(404);
    const missing = await app.inject({
      url: '/ui/r/nothing',
      headers: { host: HOST, authorization: basic('ci', 'ci-secret') },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toBe(hidden.body);
    const wrong = await app.inject({ url: '/ui/', headers: { host: HOST, authorization: basic('ci', 'nope') } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic realm=/);
    // ci may not pull internal: no operator pages, and a 404 as for a page that does not exist.
    const planPage = await app.inject({
      url: '/ui/plan',
      headers: { host: HOST, authorization: basic('ci', 'ci-secret') },
    });
    expect(planPage.statusCode).toBe(404);
    const challenge = await app.inject({ url: '/ui/basic', headers: { host: HOST } });
    expect(challenge.statusCode).toBe(401);
    expect(challenge.headers['www-authenticate']).toMatch(/^Basic realm=/);
  });

  it('logs in with the form: origin checked, an HttpOnly SameSite=Strict cookie, logout ends it', async () => {
    const app = await appFor(plan());
    const form = (origin: string | undefined, password: string) =>
      app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: {
          host: HOST,
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin === undefined ? {} : { origin }),
        },
        payload: `username=ci&password=${password}&next=${encodeURIComponent('/ui/r/private')}`,
      });
    expect((await form('http://evil.test', 'ci-secret')).statusCode).toBe(403);
    expect((await form('http://registry.test:5001', 'ci-secret')).statusCode).toBe(403);
    expect((await form('null', 'ci-secret')).statusCode).toBe(403);
    expect((await form(undefined, 'ci-secret')).statusCode).toBe(403);
    const wrong = await form(`http://${HOST}`, 'nope');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const ok = await form(`http://${HOST}`, 'ci-secret');
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/ui/r/private');
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/^regctl_session=[A-Za-z0-9_-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const session = cookie.split(';')[0]!;
    const page = await app.inject({ url: '/ui/r/private', headers: { host: HOST, cookie: session } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Signed in as <strong>ci</strong>');
    const out = await app.inject({
      method: 'POST',
      url: '/ui/logout',
      headers: { host: HOST, cookie: session, origin: `http://${HOST}` },
    });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await app.inject({ url: '/ui/r/private', headers: { host: HOST, cookie: session } })).statusCode).toBe(303);
  });

  it('reports refused logins to the event sink (metrics, audit log), with the user name only', async () => {
    const world = new FakeWorld();
    const factories = { ...world.factories, createAccessController };
    const p = plan();
    const holder = new PlanHolder(await createRuntimeState(p, { env: ENV, log: silentLog, factories }));
    const failures: AuthFailure[] = [];
    const sink: EventSink = { artifact() {}, authFailure: (failure) => failures.push(failure), wants: () => false };
    const app = Fastify({ loggerInstance: silentLog });
    await app.register(uiPlugin, { holder, listenerId: p.listeners[0]!.id, tls: false, sink });
    closers.push(async () => {
      await app.close();
      await holder.close();
    });
    await app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { host: HOST, origin: `http://${HOST}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=ci&password=guess',
    });
    await app.inject({ url: '/ui/', headers: { host: HOST, authorization: basic('ci', 'other-guess') } });
    expect(failures.map((f) => [f.reason, f.user])).toEqual([
      ['invalid_credentials', 'ci'],
      ['invalid_credentials', 'ci'],
    ]);
    expect(JSON.stringify(failures)).not.toContain('guess');
  });

  it('marks the session cookie Secure on a TLS listener', async () => {
    const world = new FakeWorld();
    const factories = { ...world.factories, createAccessController };
    const p = plan();
    const holder = new PlanHolder(await createRuntimeState(p, { env: ENV, log: silentLog, factories }));
    const app = Fastify({ loggerInstance: silentLog });
    await app.register(uiPlugin, { holder, listenerId: p.listeners[0]!.id, tls: true });
    closers.push(async () => {
      await app.close();
      await holder.close();
    });
    const login = (origin: string) =>
      app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: { host: HOST, origin, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'username=ci&password=ci-secret',
      });
    expect((await login('https://evil.test')).statusCode).toBe(403);
    const ok = await login(`https://${HOST}`);
    expect(ok.statusCode).toBe(303);
    expect(String(ok.headers['set-cookie'])).toMatch(/; Secure$/);
  });

  it('never redirects a login to another site', async () => {
    const app = await appFor(plan());
    for (const next of ['https://evil.test/', '//evil.test/ui/', '/ui//evil.test', '/v2/']) {
      const response = await app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: { host: HOST, origin: `http://${HOST}`, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `username=ci&password=ci-secret&next=${encodeURIComponent(next)}`,
      });
      expect(response.headers.location, next).toBe('/ui/');
    }
  });

  it('serves its static files under hashed names with long caching and an ETag', async () => {
    const app = await appFor(plan());
    for (const asset of [STYLE_SHEET, SCRIPT]) {
      const response = await app.inject({ url: `/ui/static/${asset.name}`, headers: { host: HOST } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(response.headers.etag).toBe(asset.etag);
      const again = await app.inject({
        url: `/ui/static/${asset.name}`,
        headers: { host: HOST, 'if-none-match': asset.etag },
      });
      expect(again.statusCode).toBe(304);
    }
    expect((await app.inject({ url: '/ui/static/ui.css', headers: { host: HOST } })).statusCode).toBe(404);
    expect((await app.inject({ url: '/', headers: { host: HOST } })).headers.location).toBe('/ui/');
  });

  it('is off with `ui: false`: every UI URL and the root redirect are the registry 404', async () => {
    const app = await appFor(plan(false));
    for (const url of ['/', '/ui', '/ui/', '/ui/login', `/ui/static/${STYLE_SHEET.name}`]) {
      const response = await app.inject({ url, headers: { host: HOST } });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().errors[0].code).toBe('UNSUPPORTED');
    }
    const login = await app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { host: HOST, origin: `http://${HOST}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=ci&password=ci-secret',
    });
    expect(login.statusCode).toBe(404);
  });
});
