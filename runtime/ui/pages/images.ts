/**
 * An image's pages: its tags (`…/-/tags`, paginated server-side over the sorted tag list, with a
 * substring filter; only the page's tags are read), one manifest (`…/-/tag/<tag>` or
 * `…/-/m/<digest>`: an index's platforms, or an image's config, layers, labels, annotations and
 * referrers such as signatures and SBOMs), and one blob of a manifest (`…/-/m/<digest>/blob/<digest>`:
 * a layer's descriptor, or the parsed image config).
 */
import { paginate } from '../../http/headers.ts';
import type { Repository, StoredContent } from '../../repositories/repository.ts';
import type { Digest } from '../../storage/blob-store.ts';
import {
  configPlatform,
  type Item,
  imageBytes,
  MAX_CHILDREN,
  type ManifestView,
  type PlatformMemo,
  summarizeTag,
  viewManifest,
} from '../content.ts';
import { formatBytes, formatTime, isoTime, query, shortDigest, urls } from '../format.ts';
import { type Html, type HtmlValue, html } from '../html.ts';
import { pageSize, pullReference, type UiContext, visibleRepository } from './context.ts';
import { empty, facts, pager, pullCommand } from './layout.ts';
import type { PageContent } from './repositories.ts';

/** The repository and its stored content, when visible and browsable. */
function storedOf(ui: UiContext, name: string): { repository: Repository; stored: StoredContent } | undefined {
  const repository = visibleRepository(ui, name);
  return repository?.stored === undefined ? undefined : { repository, stored: repository.stored };
}

function time(ms: number | undefined): Html {
  return ms === undefined
    ? html`<span class="muted">—</span>`
    : html`<time datetime="${isoTime(ms)}">${formatTime(ms)}</time>`;
}

function crumbsOf(repository: string, image: string, last?: { text: string; href?: string }) {
  return [
    { text: 'Repositories', href: urls.home },
    { text: repository, href: urls.repository(repository) },
    { text: image, href: urls.tags(repository, image) },
    ...(last === undefined ? [] : [last]),
  ];
}

function annotationsList(annotations: Readonly<Record<string, string>>): Html | undefined {
  const entries = Object.entries(annotations);
  if (entries.length === 0) return undefined;
  return html`<dl class="facts">${entries.map(([key, value]) => html`<dt><code>${key}</code></dt><dd>${value}</dd>`)}</dl>`;
}

/** `…/-/tags`: the image's tags, `n` per page after `last`, optionally only those containing `q`. */
export async function tagsPage(ui: UiContext, name: string, image: string): Promise<PageContent | undefined> {
  const found = storedOf(ui, name);
  if (found === undefined) return undefined;
  const all = await found.stored.listTags(image);
  if (all.length === 0 && !(await found.repository.listImages()).includes(image)) return undefined;
  const filter = ui.query.get('q')?.trim() ?? '';
  const matching = filter === '' ? all : all.filter((tag) => tag.includes(filter));
  const n = pageSize(ui.query);
  const last = ui.query.get('last') ?? undefined;
  const { items, next } = paginate(matching, { n, last });
  const memo: PlatformMemo = new Map();
  const rows = await Promise.all(items.map((tag) => summarizeTag(found.stored, image, tag, memo)));
  const href = (after: string | undefined) =>
    `${urls.tags(name, image)}${query({ q: filter === '' ? undefined : filter, last: after, n: ui.query.get('n') ?? undefined })}`;
  const body = html`${pullCommand(pullReference(ui, name, image))}
${facts([
  ['Repository', html`<a href="${urls.repository(name)}">${name}</a>`],
  ['Tags', filter === '' ? String(all.length) : `${matching.length} of ${all.length} contain “${filter}”`],
])}
<form method="get" action="${urls.tags(name, image)}" class="filter" role="search">
<label for="tag-filter">Filter tags</label> <input id="tag-filter" type="search" name="q" value="${filter}"> <button type="submit">Filter</button>
</form>
${
  rows.length === 0
    ? empty('No tags.')
    : html`<table class="rows"><caption class="vh">Tags of ${image}</caption><thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Kind</th><th scope="col">Size</th><th scope="col">Platforms</th><th scope="col">Pushed</th><th scope="col">Pulled</th></tr></thead><tbody>${rows.map(
        (row) => html`<tr>
<td data-label="Tag"><a href="${urls.tag(name, image, row.tag)}">${row.tag}</a></td>
<td data-label="Digest"><code>${row.view === undefined ? '—' : shortDigest(row.view.stored.digest)}</code></td>
<td data-label="Kind">${row.view?.kind ?? '—'}</td>
<td data-label="Size">${formatBytes(row.size)}</td>
<td data-label="Platforms">${row.platforms.join(', ') || '—'}</td>
<td data-label="Pushed">${time(row.view?.stored.storedAt)}</td>
<td data-label="Pulled">${time(row.view?.stored.pulledAt)}</td>
</tr>`,
      )}</tbody></table>`
}
${pager({ href, ...(last === undefined ? {} : { last }), ...(next === undefined ? {} : { next }) })}`;
  return { title: image, crumbs: crumbsOf(name, image), body };
}

function itemRows(name: string, image: string, manifest: Digest, items: readonly Item[]): Html {
  return html`${items.map(
    (layer, i) => html`<tr>
<td data-label="#">${i + 1}</td>
<td data-label="Digest"><a href="${urls.blob(name, image, manifest, layer.digest)}"><code>${shortDigest(layer.digest)}</code></a></td>
<td data-label="Media type"><code>${layer.mediaType}</code></td>
<td data-label="Size">${formatBytes(layer.size)}</td>
</tr>`,
  )}`;
}

async function indexBody(name: string, image: string, stored: StoredContent, view: ManifestView): Promise<Html> {
  const children = view.children.slice(0, MAX_CHILDREN);
  const childViews = await Promise.all(
    children.map(async (child) => {
      const manifest = await stored.readManifest(image, child.digest);
      return manifest === undefined ? undefined : viewManifest(manifest);
    }),
  );
  return html`<h2>Platforms</h2>
<table class="rows"><thead><tr><th scope="col">Platform</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Annotations</th></tr></thead><tbody>${children.map(
    (child, i) => {
      const childView = childViews[i];
      const label = child.platform ?? child.artifactType ?? child.mediaType;
      return html`<tr>
<td data-label="Platform">${childView === undefined ? html`${label} <span class="muted">(not stored)</span>` : html`<a href="${urls.manifest(name, image, child.digest)}">${label}</a>`}</td>
<td data-label="Digest"><code>${shortDigest(child.digest)}</code></td>
<td data-label="Size">${formatBytes(childView === undefined ? undefined : imageBytes(childView))}</td>
<td data-label="Annotations">${annotationsList(child.annotations) ?? '—'}</td>
</tr>`;
    },
  )}</tbody></table>${view.children.length > MAX_CHILDREN ? html`<p class="muted">${view.children.length - MAX_CHILDREN} more not shown.</p>` : undefined}`;
}

/** Labels of an image config (`config.Labels`), read from the store. */
async function configLabels(stored: StoredContent, image: string, view: ManifestView): Promise<Record<string, string>> {
  if (view.config === undefined || view.config.size > 1024 * 1024) return {};
  const body = await stored.readConfig(image, view.config.digest);
  try {
    const labels = (JSON.parse(body?.toString('utf8') ?? '{}') as { config?: { Labels?: unknown } }).config?.Labels;
    return typeof labels === 'object' && labels !== null
      ? Object.fromEntries(Object.entries(labels).filter((entry) => typeof entry[1] === 'string'))
      : {};
  } catch {
    return {};
  }
}

/** An image manifest's facts (added to the manifest's own) and sections. */
async function imageBody(
  name: string,
  image: string,
  stored: StoredContent,
  view: ManifestView,
): Promise<{ rows: [string, HtmlValue][]; body: Html }> {
  const digest = view.stored.digest;
  const [platform, labels, referrers] = await Promise.all([
    configPlatform(stored, image, view),
    configLabels(stored, image, view),
    stored.listReferrers(image, digest),
  ]);
  const rows: [string, HtmlValue][] = [
    ['Platform', platform],
    [
      'Size',
      `${formatBytes(imageBytes(view))} (config and ${view.layers.length} layer${view.layers.length === 1 ? '' : 's'})`,
    ],
    [
      'Config',
      view.config === undefined
        ? undefined
        : html`<a href="${urls.blob(name, image, digest, view.config.digest)}"><code>${shortDigest(view.config.digest)}</code></a> <span class="muted">${view.config.mediaType}, ${formatBytes(view.config.size)}</span>`,
    ],
  ];
  const body = html`<h2>Layers</h2>
${view.layers.length === 0 ? empty('No layers.') : html`<table class="rows"><thead><tr><th scope="col">#</th><th scope="col">Digest</th><th scope="col">Media type</th><th scope="col">Size</th></tr></thead><tbody>${itemRows(name, image, digest, view.layers)}</tbody></table>`}
<h2>Labels</h2>
${annotationsList(labels) ?? empty('No labels.')}
<h2>Referrers</h2>
${
  referrers.length === 0
    ? empty('No signatures, SBOMs or other referrers stored.')
    : html`<table class="rows"><thead><tr><th scope="col">Artifact type</th><th scope="col">Digest</th><th scope="col">Size</th></tr></thead><tbody>${referrers.map(
        (referrer) =>
          html`<tr><td data-label="Artifact type">${referrer.artifactType ?? referrer.mediaType}</td><td data-label="Digest"><a href="${urls.manifest(name, image, referrer.digest)}"><code>${shortDigest(referrer.digest)}</code></a></td><td data-label="Size">${formatBytes(referrer.size)}</td></tr>`,
      )}</tbody></table>`
}`;
  return { rows, body };
}

/** `…/-/tag/<tag>` or `…/-/m/<digest>`: one manifest or index. */
export async function manifestPage(
  ui: UiContext,
  name: string,
  image: string,
  reference: { tag: string } | { digest: Digest },
): Promise<PageContent | undefined> {
  const found = storedOf(ui, name);
  if (found === undefined) return undefined;
  const digest = 'tag' in reference ? await found.stored.resolveTag(image, reference.tag) : reference.digest;
  const manifest = digest === undefined ? undefined : await found.stored.readManifest(image, digest);
  const view = manifest === undefined ? undefined : viewManifest(manifest);
  if (view === undefined) return undefined;
  const title = 'tag' in reference ? `${image}:${reference.tag}` : `${image}@${shortDigest(view.stored.digest)}`;
  const part =
    view.kind === 'index'
      ? { rows: [], body: await indexBody(name, image, found.stored, view) }
      : await imageBody(name, image, found.stored, view);
  const body = html`${pullCommand(pullReference(ui, name, image, 'tag' in reference ? reference.tag : view.stored.digest))}
${facts([
  ['Digest', html`<code>${view.stored.digest}</code>`],
  ['Kind', view.kind === 'index' ? 'index (multi-platform)' : 'image manifest'],
  ['Media type', html`<code>${view.stored.mediaType}</code>`],
  ['Artifact type', view.artifactType],
  ['Manifest size', formatBytes(view.stored.body.length)],
  ['Pushed', time(view.stored.storedAt)],
  ['Last pulled', time(view.stored.pulledAt)],
  [
    'Subject',
    view.subject === undefined
      ? undefined
      : html`<a href="${urls.manifest(name, image, view.subject)}"><code>${shortDigest(view.subject)}</code></a>`,
  ],
  ...part.rows,
])}
${part.body}
<h2>Annotations</h2>
${annotationsList(view.annotations) ?? empty('No annotations.')}`;
  return { title, crumbs: crumbsOf(name, image, { text: title }), body };
}

/** The parts of an image config worth reading, as a facts list. */
function configFacts(body: Buffer | undefined): Html | undefined {
  if (body === undefined) return undefined;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const inner = (config.config ?? {}) as Record<string, unknown>;
  const list = (value: unknown) =>
    Array.isArray(value) ? html`<code>${value.map(String).join(' ')}</code>` : undefined;
  const history = Array.isArray(config.history) ? (config.history as Record<string, unknown>[]) : [];
  return html`<h2>Image config</h2>${facts([
    ['Created', typeof config.created === 'string' ? formatTime(config.created) : undefined],
    [
      'Platform',
      [config.os, config.architecture, config.variant].filter((v) => typeof v === 'string').join('/') || undefined,
    ],
    ['Entrypoint', list(inner.Entrypoint)],
    ['Command', list(inner.Cmd)],
    [
      'Working directory',
      typeof inner.WorkingDir === 'string' && inner.WorkingDir !== '' ? inner.WorkingDir : undefined,
    ],
    ['User', typeof inner.User === 'string' && inner.User !== '' ? inner.User : undefined],
    [
      'Environment',
      Array.isArray(inner.Env)
        ? html`<ul>${inner.Env.map((e) => html`<li><code>${String(e)}</code></li>`)}</ul>`
        : undefined,
    ],
  ])}${
    history.length === 0
      ? undefined
      : html`<h2>History</h2><ol>${history.map((step) => html`<li><code>${String(step.created_by ?? '')}</code>${step.empty_layer === true ? html` <span class="muted">(no layer)</span>` : undefined}</li>`)}</ol>`
  }`;
}

/** `…/-/m/<manifest>/blob/<digest>`: a layer or the config of a manifest. */
export async function blobPage(
  ui: UiContext,
  name: string,
  image: string,
  manifestDigest: Digest,
  digest: Digest,
): Promise<PageContent | undefined> {
  const found = storedOf(ui, name);
  if (found === undefined) return undefined;
  const manifest = await found.stored.readManifest(image, manifestDigest);
  const view = manifest === undefined ? undefined : viewManifest(manifest);
  if (view === undefined) return undefined;
  const isConfig = view.config?.digest === digest;
  const index = view.layers.findIndex((layer) => layer.digest === digest);
  const descriptor = isConfig ? view.config : view.layers[index];
  if (descriptor === undefined) return undefined;
  const what = isConfig ? 'Config' : `Layer ${index + 1} of ${view.layers.length}`;
  const config = isConfig ? configFacts(await found.stored.readConfig(image, digest)) : undefined;
  const body = html`${facts([
    ['Digest', html`<code>${descriptor.digest}</code>`],
    ['Media type', html`<code>${descriptor.mediaType}</code>`],
    ['Size', `${formatBytes(descriptor.size)} (${descriptor.size} bytes)`],
    [
      'Of manifest',
      html`<a href="${urls.manifest(name, image, manifestDigest)}"><code>${shortDigest(manifestDigest)}</code></a>`,
    ],
  ])}
<h2>Annotations</h2>
${annotationsList(descriptor.annotations) ?? empty('No annotations.')}
${config}`;
  const manifestCrumb = { text: shortDigest(manifestDigest), href: urls.manifest(name, image, manifestDigest) };
  return {
    title: `${what}: ${shortDigest(digest)}`,
    crumbs: [...crumbsOf(name, image), manifestCrumb, { text: what }],
    body,
  };
}
