/**
 * The read-only web UI under `/ui/` of a listener, as an encapsulated fastify plugin registered
 * next to the v2 plugin (server/app.ts). Pages are rendered on the server from the request's
 * runtime state (captured once, like every v2 request) with escaping templates (html.ts); there
 * is no API of its own and nothing to change: the only POSTs are the login and the logout.
 *
 * Every page answers with a strict CSP (scripts and styles from this origin only, no inline
 * script, no framing), `X-Frame-Options: DENY`, `nosniff`, `Cache-Control: no-store` (pages
 * depend on who asks) and `Vary: Cookie, Authorization`; the two static files are named by their
 * content hash and cached for a year. `ui: false` in the plan turns every `/ui/` URL into the
 * registry's 404 (checked per request, so a reload switches it). `GET /` redirects to `/ui/`.
 *
 * The login form's POST is checked by the registry's own Basic check (same constant-time
 * comparison, same bcrypt queue, same failed-login throttle and 429), then a session cookie is
 * set (sessions.ts). CSRF: the cookie is SameSite=Strict, and a POST whose `Origin` names another
 * host (or that has none) is refused with 403.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatBasicChallenge } from '../auth/challenge.ts';
import type { AuthRequest } from '../auth/types.ts';
import type { EventSink } from '../events.ts';
import { notFound } from '../http/error-handler.ts';
import { NO_EVENT_SINK, reportAuthFailure } from '../http/observe.ts';
import type { RouteResolver } from '../http/resolve-repository.ts';
import { isRegistryError } from '../oci/errors.ts';
import type { PlanHolder } from '../server/plan-holder.ts';
import type { RuntimeState } from '../server/state.ts';
import { ASSETS } from './assets.ts';
import { query, urls } from './format.ts';
import { html } from './html.ts';
import type { UiContext } from './pages/context.ts';
import { blobPage, manifestPage, tagsPage } from './pages/images.ts';
import { renderPage } from './pages/layout.ts';
import { loginPage, safeNext } from './pages/login.ts';
import { planPage, reloadsPage } from './pages/plan.ts';
import { type PageContent, repositoriesPage, repositoryPage } from './pages/repositories.ts';
import { searchPage } from './pages/search.ts';
import { SESSION_COOKIE, SessionStore } from './sessions.ts';
import { checkCredentials, readCookie, resolveViewer, type Viewer } from './viewer.ts';

export interface UiPluginOptions {
  readonly holder: PlanHolder;
  readonly listenerId: string;
  /** The listener serves HTTPS: session cookies are `Secure`. */
  readonly tls: boolean;
  /** The listener's sessions (default: a new store). */
  readonly sessions?: SessionStore;
  /** Where refused logins are reported (metrics, audit log), like the v2 API's. */
  readonly sink?: EventSink;
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function secureHeaders(reply: FastifyReply): void {
  reply.header('Content-Security-Policy', CSP);
  reply.header('X-Frame-Options', 'DENY');
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'same-origin');
}

/** The page `/ui/r/…` names: `<repo>`, then `<image…>/-/` and what of the image. */
type RepositoryRoute =
  | { page: 'repository'; repository: string }
  | { page: 'tags'; repository: string; image: string }
  | { page: 'tag'; repository: string; image: string; tag: string }
  | { page: 'manifest'; repository: string; image: string; digest: string }
  | { page: 'blob'; repository: string; image: string; manifest: string; digest: string };

/** Parses the path after `/ui/r/`; undefined for a shape no page has. */
export function parseRepositoryPath(path: string): RepositoryRoute | undefined {
  let segments: string[];
  try {
    segments = path.split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const [repository, ...rest] = segments;
  if (repository === undefined || repository === '') return undefined;
  if (rest.length === 0) return { page: 'repository', repository };
  const dash = rest.indexOf('-');
  const image = (dash === -1 ? rest : rest.slice(0, dash)).join('/');
  if (image === '' || rest.slice(0, dash === -1 ? undefined : dash).includes('')) return undefined;
  const tail = dash === -1 ? ['tags'] : rest.slice(dash + 1);
  if (tail.length === 1 && tail[0] === 'tags') return { page: 'tags', repository, image };
  if (tail.length === 2 && tail[0] === 'tag') return { page: 'tag', repository, image, tag: tail[1]! };
  if (tail.length === 2 && tail[0] === 'm') return { page: 'manifest', repository, image, digest: tail[1]! };
  if (tail.length === 4 && tail[0] === 'm' && tail[2] === 'blob') {
    return { page: 'blob', repository, image, manifest: tail[1]!, digest: tail[3]! };
  }
  return undefined;
}

const NOT_FOUND: PageContent = {
  title: 'Not found',
  status: 404,
  body: html`<p>There is nothing here, or nothing you may see. <a href="${urls.home}">Back to the repositories</a>.</p>`,
};

/** The answer to a POST from another origin (CSRF). */
const FOREIGN_ORIGIN: PageContent = {
  title: 'Refused',
  status: 403,
  body: html`<p>This form must be sent from this registry's own page.</p>`,
};

export async function uiPlugin(app: FastifyInstance, options: UiPluginOptions): Promise<void> {
  const sessions = options.sessions ?? new SessionStore();
  const sink = options.sink ?? NO_EVENT_SINK;
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 8 * 1024 },
    (_request, body, done) => done(null, new URLSearchParams(body as string)),
  );

  const stateOf = (request: FastifyRequest): RuntimeState => request.regctl?.lease.state ?? options.holder.state;
  const enabled = (state: RuntimeState) => state.plan.ui?.enabled !== false;

  const send = async (reply: FastifyReply, viewer: Viewer | undefined, page: PageContent, search?: string) => {
    secureHeaders(reply);
    reply.header('Cache-Control', 'no-store');
    reply.header('Vary', 'Cookie, Authorization');
    reply.code(page.status ?? 200).type('text/html; charset=utf-8');
    const shell = { viewer, ...(search === undefined ? {} : { search }) };
    await reply.send(renderPage(shell, page).text);
  };

  /** The viewer, or the refusal page already sent (credentials in the header were wrong). */
  const viewerOf = async (
    request: FastifyRequest,
    reply: FastifyReply,
    state: RuntimeState,
    resolver: RouteResolver,
  ): Promise<Viewer | undefined> => {
    const viewer = await resolveViewer(request, state, resolver, sessions);
    if (!('refused' in viewer)) return viewer;
    const error = viewer.refused;
    reportAuthFailure(sink, error, request);
    if (error.code === 'TOOMANYREQUESTS') {
      reply.header('Retry-After', error.headers['Retry-After'] ?? '1');
      await send(reply, undefined, { ...loginPage({ message: error.message }), status: 429 });
    } else {
      if (/^basic\s/i.test(request.headers.authorization ?? '')) {
        reply.header('WWW-Authenticate', formatBasicChallenge(state.plan.security.realm));
      }
      await send(reply, undefined, {
        ...loginPage({ message: 'The credentials your browser sent were refused.' }),
        status: 401,
      });
    }
    return undefined;
  };

  /**
   * POSTs must come from a page of this registry (CSRF): an `Origin` whose host and port are the
   * `Host` the request was sent to. The scheme is not compared, so that a login through a proxy
   * that terminates TLS in front of a plain-HTTP listener works.
   */
  const sameOrigin = (request: FastifyRequest): boolean => {
    const { origin, host } = request.headers;
    if (origin === undefined || host === undefined || !/^https?:\/\//.test(origin)) return false;
    try {
      return new URL(origin).host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  };

  const route = async (ui: UiContext, path: string): Promise<PageContent | undefined> => {
    if (path === '') return repositoriesPage(ui);
    if (path === 'search') return searchPage(ui);
    if (path === 'plan' || path === 'reloads') {
      if (!ui.viewer.operator) return undefined;
      return path === 'plan' ? planPage(ui) : reloadsPage(ui);
    }
    if (!path.startsWith('r/')) return undefined;
    const target = parseRepositoryPath(path.slice(2));
    if (target === undefined) return undefined;
    switch (target.page) {
      case 'repository':
        return repositoryPage(ui, target.repository);
      case 'tags':
        return tagsPage(ui, target.repository, target.image);
      case 'tag':
        return manifestPage(ui, target.repository, target.image, { tag: target.tag });
      case 'manifest':
        return manifestPage(ui, target.repository, target.image, { digest: target.digest });
      case 'blob':
        return blobPage(ui, target.repository, target.image, target.manifest, target.digest);
    }
  };

  const pages = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const state = stateOf(request);
    if (!enabled(state)) return notFound(request, reply);
    const rawUrl = request.raw.url ?? request.url;
    const mark = rawUrl.indexOf('?');
    const path = (mark === -1 ? rawUrl : rawUrl.slice(0, mark)).slice('/ui/'.length);
    const search = new URLSearchParams(mark === -1 ? '' : rawUrl.slice(mark + 1));
    if (path.startsWith('static/')) {
      const asset = ASSETS.get(path.slice('static/'.length));
      if (asset === undefined) return notFound(request, reply);
      secureHeaders(reply);
      reply.header('Cache-Control', 'public, max-age=31536000, immutable').header('ETag', asset.etag);
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.code(200).type(asset.type).send(asset.body);
    }
    const resolver = state.routes.get(options.listenerId);
    if (resolver === undefined) return notFound(request, reply);
    const viewer = await viewerOf(request, reply, state, resolver);
    if (viewer === undefined) return;
    if (path === 'login') {
      await send(reply, viewer, loginPage({ next: search.get('next') ?? undefined }));
      return;
    }
    if (path === 'basic') {
      // Sign in with the browser's own password prompt: challenge until it sends Basic credentials
      // (which it then sends for every page under /ui/), then go on like the login form.
      if (viewer.via === 'header') {
        reply.header('Location', safeNext(search.get('next'))).header('Cache-Control', 'no-store');
        await reply.code(303).send();
        return;
      }
      reply.header('WWW-Authenticate', formatBasicChallenge(state.plan.security.realm));
      await send(reply, viewer, { ...loginPage({ message: 'Your browser did not send credentials.' }), status: 401 });
      return;
    }
    const ui: UiContext = {
      viewer,
      state,
      resolver,
      holder: options.holder,
      query: search,
      host: request.headers.host ?? '',
    };
    let page: PageContent | undefined;
    try {
      page = await route(ui, path);
    } catch (error) {
      if (!isRegistryError(error) || error.status >= 500) {
        request.log.error({ err: error, url: request.url }, 'ui page failed');
        await send(reply, viewer, {
          title: 'Something went wrong',
          status: 500,
          body: html`<p>This page could not be read from the registry's storage; the server log says why.</p>`,
        });
        return;
      }
      page = undefined; // NAME_UNKNOWN, MANIFEST_UNKNOWN, an offline repository: nothing to show
    }
    if (
      page === undefined &&
      viewer.user === null &&
      (path === 'plan' || path === 'reloads' || path.startsWith('r/'))
    ) {
      // Anonymous and nothing visible: perhaps there is once signed in.
      reply.header('Location', `${urls.login}${query({ next: `/ui/${path}` })}`);
      await reply.code(303).send();
      return;
    }
    await send(reply, viewer, page ?? NOT_FOUND, path === 'search' ? (search.get('q') ?? '') : undefined);
  };

  const login = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const state = stateOf(request);
    if (!enabled(state)) return notFound(request, reply);
    const resolver = state.routes.get(options.listenerId);
    if (resolver === undefined) return notFound(request, reply);
    if (!sameOrigin(request)) {
      await send(reply, undefined, FOREIGN_ORIGIN);
      return;
    }
    const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const next = safeNext(form.get('next'));
    if (username === '' || username.includes(':')) {
      await send(reply, undefined, {
        ...loginPage({ next, message: 'Incorrect user name or password.' }),
        status: 401,
      });
      return;
    }
    const auth: AuthRequest = {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
      host: request.headers.host ?? request.hostname,
      protocol: options.tls ? 'https' : 'http',
      ip: request.ip,
    };
    const checked = await checkCredentials(state, resolver, auth);
    if ('refused' in checked || checked.user === null) {
      const throttled = 'refused' in checked && checked.refused.code === 'TOOMANYREQUESTS';
      sink.authFailure({
        reason: throttled ? 'throttled' : 'invalid_credentials',
        user: username.slice(0, 256).replace(/[^\x20-\x7e]/g, '?'),
        addr: request.ip,
        requestId: request.id,
      });
      if (throttled) reply.header('Retry-After', checked.refused.headers['Retry-After'] ?? '1');
      const message = throttled ? checked.refused.message : 'Incorrect user name or password.';
      await send(reply, undefined, { ...loginPage({ next, message, user: username }), status: throttled ? 429 : 401 });
      return;
    }
    const id = sessions.create(checked.user);
    const cookie = [
      `${SESSION_COOKIE}=${id}`,
      'Path=/ui',
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${Math.floor(sessions.ttlMs / 1000)}`,
      ...(options.tls ? ['Secure'] : []),
    ];
    request.log.info({ user: checked.user, ip: request.ip }, 'ui login');
    reply.header('Set-Cookie', cookie.join('; ')).header('Location', next).header('Cache-Control', 'no-store');
    await reply.code(303).send();
  };

  const logout = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!enabled(stateOf(request))) return notFound(request, reply);
    if (!sameOrigin(request)) {
      await send(reply, undefined, FOREIGN_ORIGIN);
      return;
    }
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (id !== undefined) sessions.delete(id);
    const expired = [
      `${SESSION_COOKIE}=`,
      'Path=/ui',
      'HttpOnly',
      'SameSite=Strict',
      'Max-Age=0',
      ...(options.tls ? ['Secure'] : []),
    ];
    reply.header('Set-Cookie', expired.join('; ')).header('Location', urls.home);
    await reply.code(303).send();
  };

  const home = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!enabled(stateOf(request))) return notFound(request, reply);
    reply.header('Location', urls.home);
    await reply.code(302).send();
  };

  app.route({ method: ['GET', 'HEAD'], url: '/', handler: home });
  app.route({ method: ['GET', 'HEAD'], url: '/ui', handler: home });
  app.route({ method: ['GET', 'HEAD'], url: '/ui/*', handler: pages });
  app.route({ method: 'POST', url: '/ui/login', handler: login });
  app.route({ method: 'POST', url: '/ui/logout', handler: logout });
}
