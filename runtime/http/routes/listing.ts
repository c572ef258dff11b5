/**
 * `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both paginated with `?n=&last=` and a
 * `Link: <…>; rel="next"` header) and `GET /v2/<name>/referrers/<digest>`.
 *
 * The catalog is the union over the repositories this request can reach on its listener, with
 * names as the client sees them: plain for the default (or pinned) repository, `<segment>/<image>`
 * for path routes. The request is authorized like `GET /v2/` (an anonymous client that may pull
 * nothing gets the 401 challenge), then only repositories the principal may pull from are listed.
 */
import type { Principal } from '../../auth/types.ts';
import { isRegistryError } from '../../oci/errors.ts';
import { assertValidDigest } from '../../oci/names.ts';
import type { ApiCall } from '../context.ts';
import { formatNextLink, OCI_FILTERS_HEADER, OCI_INDEX_MEDIA_TYPE, paginate, parsePage } from '../headers.ts';
import type { CatalogSource } from '../resolve-repository.ts';

function setNextLink(call: ApiCall, path: string, n: number | undefined, next: string | undefined): void {
  if (n === undefined || next === undefined) return;
  call.reply.header('Link', formatNextLink(`${call.urlPrefix}/v2/${path}`, n, next, call.routingQuery));
}

export async function listTags(call: ApiCall, name: string): Promise<void> {
  const target = await call.target(name, ['pull']);
  const page = parsePage(call.query);
  const tags = await target.repo.listTags(target.image);
  const { items, next } = paginate(tags, page);
  setNextLink(call, `${name}/tags/list`, page.n, next);
  await call.reply.code(200).send({ name, tags: items });
}

export async function listCatalog(call: ApiCall): Promise<void> {
  const page = parsePage(call.query);
  const { access } = call.state;
  const sources = call.resolver.catalogSources(call.route);
  // Authorize like the ping (401 with a challenge when nothing is visible anonymously), then keep
  // the repositories the principal may pull from.
  const principal = await access.authorize(call.auth, {
    base: true,
    repositories: sources.map((source) => source.repository),
  });
  const names = new Set<string>();
  for (const source of sources) {
    const repository = call.state.repositories.get(source.repository);
    if (!repository || !(await mayPull(call, principal, source))) continue;
    for (const image of await repository.listImages()) names.add(`${source.prefix}${image}`);
  }
  const sorted = [...names].sort();
  const { items, next } = paginate(sorted, page);
  setNextLink(call, '_catalog', page.n, next);
  await call.reply.code(200).send({ repositories: items });
}

/** `can()` when the controller offers it, else a per-repository authorize with the prefix as name. */
async function mayPull(call: ApiCall, principal: Principal, source: CatalogSource): Promise<boolean> {
  const { access } = call.state;
  if (access.can) return access.can(principal, source.repository, 'pull');
  try {
    await access.authorize(call.auth, {
      name: source.prefix === '' ? source.repository : source.prefix.slice(0, -1),
      repository: source.repository,
      actions: ['pull'],
    });
    return true;
  } catch (error) {
    if (isRegistryError(error) && (error.code === 'UNAUTHORIZED' || error.code === 'DENIED')) return false;
    throw error;
  }
}

export async function listReferrers(call: ApiCall, name: string, digest: string): Promise<void> {
  const target = await call.target(name, ['pull']);
  assertValidDigest(digest);
  const artifactType = call.query.get('artifactType') ?? undefined;
  const manifests = await target.repo.listReferrers(target.image, digest, artifactType);
  if (artifactType !== undefined) call.reply.header(OCI_FILTERS_HEADER, 'artifactType');
  call.reply.code(200).header('Content-Type', OCI_INDEX_MEDIA_TYPE);
  await call.reply.send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests })));
}
