/**
 * `GET /-/inventory` and `GET /-/inventory/<repository>`: what `regctl ls` lists, read through
 * the repositories' {@link StoredContent} (no pull is noted, nothing is asked of an upstream).
 *
 * - `/-/inventory`: the repositories of this listener the caller may pull from, `{ name, type }`
 *   in plan order;
 * - `/-/inventory/<repository>` (a hosted repository): its images, each tag with its digest,
 *   media type, push time and last-pull time (ISO or null; a pull this process noted but has not
 *   written yet counts), and `blobs`, the bytes of the manifest and everything it references
 *   (an index: its child manifests and their blobs) by digest, so a client can count each blob
 *   once across tags.
 *
 * Authorized like `/v2/_catalog`: as the ping first (an anonymous caller that may pull nothing
 * gets the 401 challenge), then only repositories the principal may pull from exist; any other
 * name answers `NAME_UNKNOWN` exactly like one the plan does not have.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/types.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { StoredContent } from '../../repositories/repository.ts';
import type { PlanHolder } from '../../server/plan-holder.ts';
import type { RuntimeState } from '../../server/state.ts';
import { readTagContent, viewBlobs } from '../../ui/content.ts';
import { toAuthRequest } from '../context.ts';

export interface InventoryRoutesOptions {
  readonly holder: PlanHolder;
  readonly listenerId: string;
}

/** One tag as `/-/inventory/<repository>` lists it. */
export interface InventoryTag {
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly pushedAt: string | null;
  readonly pulledAt: string | null;
  /** Bytes by digest: the manifest, its config and layers (an index: its children's too). */
  readonly blobs: Readonly<Record<string, number>>;
}

/** Child manifests of an index read for its size, at most. */
const MAX_CHILDREN = 256;

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The tag's manifest and what it references; undefined when it no longer resolves. */
async function readTag(stored: StoredContent, image: string, tag: string): Promise<InventoryTag | undefined> {
  const content = await readTagContent(stored, image, tag, MAX_CHILDREN);
  if (content === undefined) return undefined;
  const { manifest } = content;
  const blobs: Record<string, number> = { [manifest.digest]: manifest.body.length };
  for (const view of [content.view, ...content.children]) {
    blobs[view.stored.digest] = view.stored.body.length;
    for (const item of viewBlobs(view)) blobs[item.digest] = item.size;
  }
  return {
    tag,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    pushedAt: iso(manifest.storedAt),
    pulledAt: iso(manifest.pulledAt),
    blobs,
  };
}

export function registerInventoryRoutes(app: FastifyInstance, options: InventoryRoutesOptions): void {
  /** The state, and the repositories of this listener the caller may pull from (throws the 401). */
  const visible = async (request: FastifyRequest): Promise<{ state: RuntimeState; names: string[] }> => {
    const state = request.regctl?.lease.state ?? options.holder.state;
    const repositories = state.routes.get(options.listenerId)?.repositories ?? [];
    const principal: Principal = await state.access.authorize(toAuthRequest(request), { base: true, repositories });
    return { state, names: repositories.filter((name) => state.access.can?.(principal, name, 'pull') === true) };
  };

  app.get('/-/inventory', async (request, reply) => {
    const { state, names } = await visible(request);
    const repositories = names.map((name) => ({ name, type: state.plan.repositories[name]!.type }));
    reply.header('Cache-Control', 'no-store');
    await reply.code(200).send({ repositories });
  });

  app.get<{ Params: { repository: string } }>('/-/inventory/:repository', async (request, reply) => {
    const { state, names } = await visible(request);
    const name = request.params.repository;
    const repository = names.includes(name) ? state.repositories.get(name) : undefined;
    if (repository === undefined) {
      throw new RegistryError('NAME_UNKNOWN', { message: `no repository ${name}`, detail: { name } });
    }
    const stored = repository.stored;
    if (repository.plan.type !== 'hosted' || stored === undefined) {
      throw new RegistryError('UNSUPPORTED', {
        status: 400,
        message: `${name} is a ${repository.plan.type} repository: only hosted repositories are listed`,
      });
    }
    const images = [];
    for (const image of await repository.listImages()) {
      const tags: InventoryTag[] = [];
      for (const tag of await stored.listTags(image)) {
        const entry = await readTag(stored, image, tag);
        if (entry !== undefined) tags.push(entry);
      }
      images.push({ name: image, tags });
    }
    reply.header('Cache-Control', 'no-store');
    await reply.code(200).send({ name, type: repository.plan.type, images });
  });
}
