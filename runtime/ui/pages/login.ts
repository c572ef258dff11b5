/** The login form (`/ui/login`): user name and password, checked by the registry's own Basic check. */
import { urls } from '../format.ts';
import { html } from '../html.ts';
import type { PageContent } from './repositories.ts';

/** Where to go after logging in: a UI path only (never another site, never `//host`). */
export function safeNext(value: string | undefined | null): string {
  return value !== undefined && value !== null && /^\/ui\/(?!\/)/.test(value) && !value.includes('\\')
    ? value
    : urls.home;
}

export function loginPage(options: { next?: string; message?: string; user?: string }): PageContent {
  const body = html`${options.message === undefined ? undefined : html`<p class="notice" role="alert">${options.message}</p>`}
<form class="login" method="post" action="${urls.login}">
<input type="hidden" name="next" value="${safeNext(options.next)}">
<label for="login-user">User name</label>
<input id="login-user" type="text" name="username" autocomplete="username" required value="${options.user ?? ''}" autofocus>
<label for="login-password">Password</label>
<input id="login-password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p><a href="/ui/basic">Sign in with the browser's password prompt instead</a> (HTTP Basic: the browser then sends the credentials with every page until it is closed).</p>
<p class="muted">The users and passwords of the registry itself. Browsing needs only pull permission; nothing can be changed here.</p>`;
  return { title: 'Sign in', body };
}
