/**
 * The page shell every UI page shares: the document head (the hashed style sheet and the deferred
 * copy-button script; no inline script or style, as the CSP requires), a skip link, the header
 * with navigation, search and who is signed in, breadcrumbs, and the main landmark. Plus the
 * small pieces several pages use (a pull command with its copy button, facts lists, pagination).
 */
import { SCRIPT, STYLE_SHEET } from '../assets.ts';
import { urls } from '../format.ts';
import { type Html, type HtmlValue, html } from '../html.ts';
import type { Viewer } from '../viewer.ts';

/** What the shell needs to know about the request. */
export interface ShellContext {
  readonly viewer: Viewer | undefined;
  /** The current search text, kept in the header's search box. */
  readonly search?: string;
}

/** A breadcrumb: text and, except for the current page, a link. */
export interface Crumb {
  readonly text: string;
  readonly href?: string;
}

function crumbs(trail: readonly Crumb[]): Html | undefined {
  if (trail.length === 0) return undefined;
  return html`<nav class="crumbs" aria-label="Breadcrumb"><ol>${trail.map((crumb, i) =>
    crumb.href === undefined || i === trail.length - 1
      ? html`<li><span aria-current="page">${crumb.text}</span></li>`
      : html`<li><a href="${crumb.href}">${crumb.text}</a></li>`,
  )}</ol></nav>`;
}

function who(viewer: Viewer | undefined): Html {
  if (viewer === undefined || viewer.user === null) {
    return html`<div class="who"><span class="muted">anonymous</span> <a href="${urls.login}">Sign in</a></div>`;
  }
  const logout =
    viewer.via === 'session'
      ? html`<form method="post" action="${urls.logout}"><button type="submit">Sign out</button></form>`
      : html`<span class="muted">(${viewer.via === 'header' ? 'browser credentials' : ''})</span>`;
  return html`<div class="who"><span>Signed in as <strong>${viewer.user}</strong></span> ${logout}</div>`;
}

/** A whole HTML document. */
export function renderPage(
  context: ShellContext,
  page: { title: string; crumbs?: readonly Crumb[]; body: HtmlValue },
): Html {
  const operator = context.viewer?.operator === true;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · regctl</title>
<link rel="stylesheet" href="/ui/static/${STYLE_SHEET.name}">
<script src="/ui/static/${SCRIPT.name}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${urls.home}">regctl</a>
<nav aria-label="Main"><ul>
<li><a href="${urls.home}">Repositories</a></li>
${operator ? html`<li><a href="${urls.plan}">Plan</a></li><li><a href="${urls.reloads}">Reloads</a></li>` : undefined}
</ul></nav>
<form class="search" role="search" method="get" action="/ui/search">
<label class="vh" for="search-q">Search repositories, images and tags</label>
<input id="search-q" type="search" name="q" value="${context.search ?? ''}" placeholder="Search images and tags">
<button type="submit">Search</button>
</form>
${who(context.viewer)}
</header>
<main id="main" tabindex="-1">
${crumbs(page.crumbs ?? [])}
<h1>${page.title}</h1>
${page.body}
</main>
</body>
</html>
`;
}

/** A pull command in a `<code>`, with a copy button the script reveals. */
export function pullCommand(reference: string | undefined): Html | undefined {
  if (reference === undefined) return undefined;
  const command = `docker pull ${reference}`;
  return html`<div class="pull"><code>${command}</code><button type="button" data-copy="${command}" hidden>Copy</button></div>`;
}

/** A `<dl>` of label → value rows; rows whose value is undefined are left out. */
export function facts(rows: readonly (readonly [string, HtmlValue])[]): Html {
  return html`<dl class="facts">${rows
    .filter((row) => row[1] !== undefined)
    .map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)}</dl>`;
}

/** "Next page" (and "first page" when not on it) links of a `last`-paginated list. */
export function pager(options: {
  href: (last: string | undefined) => string;
  last?: string;
  next?: string;
}): Html | undefined {
  if (options.next === undefined && options.last === undefined) return undefined;
  return html`<nav class="pages" aria-label="Pages">${
    options.last === undefined ? undefined : html`<a href="${options.href(undefined)}">First page</a>`
  }${options.next === undefined ? undefined : html`<a href="${options.href(options.next)}" rel="next">Next page</a>`}</nav>`;
}

/** A page's "nothing here" line. */
export function empty(text: string): Html {
  return html`<p class="muted">${text}</p>`;
}
