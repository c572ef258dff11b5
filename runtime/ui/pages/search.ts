/**
 * `/ui/search?q=`: repositories, images and tags whose names contain the text (case-insensitive),
 * over the repositories the viewer may pull from. Bounded for big registries: the tag lists of at
 * most {@link MAX_IMAGES_SCANNED} images are read, and at most {@link MAX_RESULTS} hits of each
 * kind are shown (the page says when it stopped).
 */
import { urls } from '../format.ts';
import { html } from '../html.ts';
import type { UiContext } from './context.ts';
import { empty } from './layout.ts';
import type { PageContent } from './repositories.ts';

export const MAX_IMAGES_SCANNED = 500;
export const MAX_RESULTS = 100;

export async function searchPage(ui: UiContext): Promise<PageContent> {
  const q = (ui.query.get('q') ?? '').trim();
  if (q === '') return { title: 'Search', body: empty('Type part of a repository, image or tag name.') };
  const needle = q.toLowerCase();
  const repositories = ui.viewer.repositories.filter((name) => name.toLowerCase().includes(needle));
  const images: { repository: string; image: string }[] = [];
  const tags: { repository: string; image: string; tag: string }[] = [];
  let scanned = 0;
  let truncated = false;
  for (const repository of ui.viewer.repositories) {
    const repo = ui.state.repositories.get(repository);
    if (repo === undefined) continue;
    const names = await repo.listImages().catch(() => [] as string[]);
    for (const image of names) {
      if (image.toLowerCase().includes(needle)) images.push({ repository, image });
      if (scanned >= MAX_IMAGES_SCANNED) {
        truncated = true;
        continue;
      }
      scanned++;
      const list = (await repo.stored?.listTags(image).catch(() => [])) ?? [];
      for (const tag of list) if (tag.toLowerCase().includes(needle)) tags.push({ repository, image, tag });
    }
  }
  const cut = <T>(list: T[]) => {
    if (list.length > MAX_RESULTS) truncated = true;
    return list.slice(0, MAX_RESULTS);
  };
  const body = html`<h2>Repositories</h2>
${repositories.length === 0 ? empty('None.') : html`<ul>${repositories.map((r) => html`<li><a href="${urls.repository(r)}">${r}</a></li>`)}</ul>`}
<h2>Images</h2>
${images.length === 0 ? empty('None.') : html`<ul>${cut(images).map((i) => html`<li><a href="${urls.tags(i.repository, i.image)}">${i.image}</a> <span class="muted">in ${i.repository}</span></li>`)}</ul>`}
<h2>Tags</h2>
${tags.length === 0 ? empty('None.') : html`<ul>${cut(tags).map((t) => html`<li><a href="${urls.tag(t.repository, t.image, t.tag)}">${t.image}:${t.tag}</a> <span class="muted">in ${t.repository}</span></li>`)}</ul>`}
${truncated ? html`<p class="muted">Showing the first results only (at most ${MAX_RESULTS} of each kind, tags of the first ${MAX_IMAGES_SCANNED} images): refine the search.</p>` : undefined}`;
  return { title: `Search: ${q}`, body };
}
