/**
 * The repository list (`/ui/`) and one repository's page (`/ui/r/<repo>`): type, blob store,
 * size (as last measured by storage accounting), image count; for a proxy its remote, cache hit
 * ratio and upstream health; for a group its members in order (those the viewer may see); then
 * the repository's images, paginated.
 */
import type { RepositoryPlan } from '../../../compiler/plan.ts';
import { paginate } from '../../http/headers.ts';
import type { Repository } from '../../repositories/repository.ts';
import { formatBytes, formatRatio, formatTime, query, urls } from '../format.ts';
import { type Html, html } from '../html.ts';
import {
  pageSize,
  proxyEndpoints,
  proxyFigures,
  pullReference,
  repositoryUsage,
  storeUsage,
  type UiContext,
  visibleRepository,
} from './context.ts';
import { empty, facts, pager } from './layout.ts';

/** A page's title, breadcrumbs and body. */
export interface PageContent {
  readonly title: string;
  readonly crumbs?: readonly { text: string; href?: string }[];
  readonly body: Html;
  readonly status?: number;
}

/** The host of a remote URL, without credentials or path. */
function remoteHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** `ok`, `failing` or `unknown`, from the upstream's last success and failure. */
function healthOf(repository: Repository | undefined): Html | undefined {
  const figures = proxyFigures(repository);
  if (figures === undefined) return undefined;
  const { lastSuccessAt, lastErrorAt, lastError } = figures.health;
  if (lastErrorAt !== null && (lastSuccessAt === null || lastErrorAt > lastSuccessAt)) {
    return html`<span class="bad">failing</span> <span class="muted">since ${formatTime(lastErrorAt)}: ${lastError ?? ''}</span>`;
  }
  if (lastSuccessAt !== null)
    return html`<span class="good">ok</span> <span class="muted">(${formatTime(lastSuccessAt)})</span>`;
  return html`<span class="muted">not contacted yet</span>`;
}

/**
 * With mirrors: each endpoint in the order it is tried, its role and its circuit breaker (a
 * skipped endpoint says until when and why). Undefined with the remote alone: "Upstream" says it.
 */
function endpointsOf(repository: Repository | undefined): Html | undefined {
  const endpoints = proxyEndpoints(repository);
  if (endpoints.length < 2) return undefined;
  return html`<ol class="endpoints">${endpoints.map((endpoint) => {
    const state =
      endpoint.state === 'closed'
        ? html`<span class="good">in use</span>`
        : html`<span class="bad">${endpoint.state === 'open' ? 'skipped' : 'on trial'}</span>${
            endpoint.nextRetryAt === null
              ? ''
              : html` <span class="muted">until ${formatTime(endpoint.nextRetryAt)}</span>`
          }${endpoint.lastError === null ? '' : html` <span class="muted">(${endpoint.lastError})</span>`}`;
    return html`<li data-endpoint="${endpoint.url}" data-state="${endpoint.state}">${remoteHost(endpoint.url)} <span class="muted">${endpoint.role}</span> · ${state}</li>`;
  })}</ol>`;
}

function hitRatio(repository: Repository | undefined): string | undefined {
  const figures = proxyFigures(repository);
  if (figures === undefined) return undefined;
  const { hit = 0, miss = 0, stale = 0 } = figures.results;
  return `${formatRatio(hit + stale, hit + miss + stale)} (${hit + stale} of ${hit + miss + stale} since the last reload)`;
}

/** A group's members in order, those the viewer may pull from. */
function visibleMembers(ui: UiContext, plan: RepositoryPlan): string[] {
  if (plan.type !== 'group') return [];
  return plan.members.filter((member) => ui.state.access.can?.(ui.viewer.principal, member, 'pull') === true);
}

function members(ui: UiContext, plan: RepositoryPlan): Html | undefined {
  if (plan.type !== 'group') return undefined;
  const visible = visibleMembers(ui, plan);
  if (visible.length === 0) return html`<span class="muted">none visible to you</span>`;
  return html`<ol>${visible.map((member) =>
    ui.viewer.repositories.includes(member)
      ? html`<li><a href="${urls.repository(member)}">${member}</a></li>`
      : html`<li>${member}</li>`,
  )}</ol>`;
}

async function imageCount(repository: Repository | undefined): Promise<number | undefined> {
  if (repository === undefined) return undefined;
  return (await repository.listImages().catch(() => undefined))?.length;
}

/** `/ui/`: every repository the viewer may pull from. */
export async function repositoriesPage(ui: UiContext): Promise<PageContent> {
  const names = ui.viewer.repositories;
  const rows = await Promise.all(
    names.map(async (name) => {
      const repository = ui.state.repositories.get(name);
      const plan = ui.state.plan.repositories[name]!;
      const images = await imageCount(repository);
      const detail =
        plan.type === 'proxy'
          ? html`${remoteHost(plan.remote.url)} · hit ratio ${hitRatio(repository)} · upstream ${healthOf(repository)}`
          : plan.type === 'group'
            ? html`members: ${visibleMembers(ui, plan).join(' → ') || '—'}`
            : html`${plan.deploymentPolicy}`;
      return html`<tr>
<td data-label="Repository"><a href="${urls.repository(name)}">${name}</a></td>
<td data-label="Type"><span class="pill">${plan.type}</span></td>
<td data-label="Blob store">${plan.blobStore}</td>
<td data-label="Size">${formatBytes(repositoryUsage(ui.holder, name)?.bytes)}</td>
<td data-label="Images">${images ?? '—'}</td>
<td data-label="Details">${detail}</td>
</tr>`;
    }),
  );
  const usage = ui.viewer.operator ? storeUsage(ui.holder) : [];
  const body = html`${
    names.length === 0
      ? empty(
          ui.viewer.user === null
            ? 'Nothing here may be pulled anonymously: sign in to see more.'
            : 'You may not pull from any repository of this listener.',
        )
      : html`<table class="rows"><caption class="vh">Repositories</caption><thead><tr><th scope="col">Repository</th><th scope="col">Type</th><th scope="col">Blob store</th><th scope="col">Size</th><th scope="col">Images</th><th scope="col">Details</th></tr></thead><tbody>${rows}</tbody></table>`
  }${
    usage.length === 0
      ? undefined
      : html`<h2>Blob store usage</h2><table class="rows"><thead><tr><th scope="col">Store</th><th scope="col">Blobs</th><th scope="col">Size</th><th scope="col">Measured</th></tr></thead><tbody>${usage.map(
          (store) =>
            html`<tr><td data-label="Store">${store.store}</td><td data-label="Blobs">${store.blobs}</td><td data-label="Size">${formatBytes(store.bytes)}</td><td data-label="Measured">${formatTime(store.measuredAt)}</td></tr>`,
        )}</tbody></table>`
  }`;
  return { title: 'Repositories', body };
}

/** `/ui/r/<repo>`: the repository's facts and its images (paginated with `?last=`). */
export async function repositoryPage(ui: UiContext, name: string): Promise<PageContent | undefined> {
  const repository = visibleRepository(ui, name);
  const plan = ui.state.plan.repositories[name];
  if (repository === undefined || plan === undefined) return undefined;
  const all = await repository.listImages().catch(() => [] as string[]);
  const n = pageSize(ui.query);
  const last = ui.query.get('last') ?? undefined;
  const { items, next } = paginate(all, { n, last });
  const tagCounts = await Promise.all(
    items.map((image) =>
      repository.stored?.listTags(image).then(
        (tags) => tags.length,
        () => undefined,
      ),
    ),
  );
  const usage = repositoryUsage(ui.holder, name);
  const body = html`${facts([
    ['Type', plan.type],
    ['Blob store', plan.blobStore],
    ['Online', plan.online ? 'yes' : 'no (offline: every request is refused)'],
    ['Size', usage === undefined ? 'not measured yet' : `${formatBytes(usage.bytes)} in ${usage.blobs} blobs`],
    ['Images', String(all.length)],
    ['Deployment policy', plan.type === 'hosted' ? plan.deploymentPolicy : undefined],
    ['Remote', plan.type === 'proxy' ? remoteHost(plan.remote.url) : undefined],
    ['Cache hit ratio', hitRatio(repository)],
    ['Upstream', healthOf(repository)],
    ['Endpoints (in order)', endpointsOf(repository)],
    ['Members (in order)', members(ui, plan)],
    ['Pushes go to', plan.type === 'group' ? (plan.writableMember ?? 'nowhere (read-only group)') : undefined],
  ])}
<h2>Images</h2>
${
  items.length === 0
    ? empty(plan.type === 'proxy' ? 'Nothing cached yet.' : 'No images yet.')
    : html`<table class="rows"><thead><tr><th scope="col">Image</th><th scope="col">Tags</th><th scope="col">Pull</th></tr></thead><tbody>${items.map(
        (image, i) =>
          html`<tr><td data-label="Image"><a href="${urls.tags(name, image)}">${image}</a></td><td data-label="Tags">${tagCounts[i] ?? '—'}</td><td data-label="Pull"><code>${pullReference(ui, name, image) ?? '—'}</code></td></tr>`,
      )}</tbody></table>`
}
${pager({ href: (after) => `${urls.repository(name)}${query({ last: after, n: ui.query.get('n') ?? undefined })}`, ...(last === undefined ? {} : { last }), ...(next === undefined ? {} : { next }) })}`;
  return { title: name, crumbs: [{ text: 'Repositories', href: urls.home }, { text: name }], body };
}
