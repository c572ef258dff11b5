/**
 * `regctl ls`: what a running registry stores, read from its `GET /-/inventory` endpoint
 * (runtime/http/routes/inventory.ts) with the configured credentials: the repositories the
 * caller may pull from, and for each hosted one its images and tags, with the bytes each tag
 * takes (manifest, config and layers; for an index its child manifests too) and when it was last
 * pulled. An image's size counts each blob once, however many of its tags share it. The listing
 * itself notes no pull (it reads stored content, not the v2 API).
 *
 * Only hosted repositories are listed: a proxy's tag list would be asked of its remote, and a
 * group's members are listed in their own right.
 */
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import {
  ClientUsageError,
  type Credentials,
  connectRegistry,
  describeRefusal,
  describeRegistryFailure,
  formatBytes,
  type TargetOptions,
} from './target.ts';

/** One tag and what it takes. */
export interface TagEntry {
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Bytes of the manifest and every blob it references (child manifests of an index included). */
  readonly size: number;
  /** ISO time the tag's manifest was last pulled (coarse: the registry records it hourly), or null: never. */
  readonly lastPulled: string | null;
}

export interface ImageEntry {
  readonly name: string;
  readonly tags: readonly TagEntry[];
  /** Bytes of the distinct manifests and blobs of all tags. */
  readonly size: number;
}

export interface RepositoryEntry {
  readonly name: string;
  readonly type: string;
  readonly images: readonly ImageEntry[];
  readonly size: number;
}

/** What {@link listRegistry} found; `skipped` names repositories it does not list, and why. */
export interface Inventory {
  readonly registry: string;
  readonly repositories: readonly RepositoryEntry[];
  readonly skipped: readonly { readonly name: string; readonly type: string; readonly reason: string }[];
}

export interface ListOptions extends TargetOptions {
  /** One repository (a regctl repository name), or every hosted repository. */
  readonly repository?: string;
  readonly timeoutMs?: number;
}

interface VisibleRepository {
  readonly name: string;
  readonly type: string;
}

/** One tag as `GET /-/inventory/<repository>` answers it. */
interface InventoryTag {
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly pulledAt: string | null;
  readonly blobs: Readonly<Record<string, number>>;
}

async function readText(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024 * 1024) throw new Error('answer larger than 64 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `GET <path>` as JSON; a refusal becomes an error saying what was refused and why. */
async function getJson<T>(
  client: UpstreamClient,
  path: string,
  what: string,
  registry: string,
  credentials: Credentials,
): Promise<T> {
  const response = await client.request({ method: 'GET', path, scope: 'registry:catalog:*' });
  const text = await readText(response.body);
  if (response.status !== 200) throw new Error(describeRefusal(what, response.status, text, registry, credentials));
  return JSON.parse(text) as T;
}

/** The repositories of the serving plan, from `GET /-/status` (every one, visible or not: for `rm`'s check). */
export async function fetchRepositories(client: UpstreamClient): Promise<VisibleRepository[]> {
  const response = await client.request({ method: 'GET', path: '-/status' });
  const text = await readText(response.body);
  if (response.status !== 200) throw new Error(`GET /-/status answered ${response.status}`);
  return (JSON.parse(text) as { repositories: VisibleRepository[] }).repositories;
}

const sum = (sizes: Iterable<number>) => [...sizes].reduce((a, b) => a + b, 0);

async function listRepository(
  client: UpstreamClient,
  registry: string,
  repository: VisibleRepository,
  credentials: Credentials,
): Promise<RepositoryEntry> {
  const answer = await getJson<{ images: { name: string; tags: InventoryTag[] }[] }>(
    client,
    `-/inventory/${encodeURIComponent(repository.name)}`,
    `the content of ${repository.name}`,
    registry,
    credentials,
  );
  const all = new Map<string, number>();
  const images: ImageEntry[] = answer.images.map((image) => {
    const seen = new Map<string, number>();
    const tags = image.tags.map((tag): TagEntry => {
      for (const [digest, size] of Object.entries(tag.blobs)) seen.set(digest, size);
      return {
        tag: tag.tag,
        digest: tag.digest,
        mediaType: tag.mediaType,
        size: sum(Object.values(tag.blobs)),
        lastPulled: tag.pulledAt,
      };
    });
    for (const [digest, size] of seen) all.set(digest, size);
    return { name: image.name, tags, size: sum(seen.values()) };
  });
  return { name: repository.name, type: repository.type, images, size: sum(all.values()) };
}

/** Lists the registry (see the module comment). */
export async function listRegistry(options: ListOptions): Promise<Inventory> {
  const { registry, credentials, client } = await connectRegistry(options);
  try {
    const { repositories: all } = await getJson<{ repositories: VisibleRepository[] }>(
      client,
      '-/inventory',
      'the list of repositories',
      registry,
      credentials,
    );
    let wanted = all;
    if (options.repository !== undefined) {
      const found = all.find((r) => r.name === options.repository);
      if (found === undefined) {
        const names = all.map((r) => r.name).join(', ');
        throw new ClientUsageError(
          `no repository ${options.repository} in the registry at ${registry} that these credentials may pull from (${names === '' ? 'none' : `there are ${names}`})`,
        );
      }
      wanted = [found];
    }
    const repositories: RepositoryEntry[] = [];
    const skipped: Inventory['skipped'][number][] = [];
    for (const repository of wanted) {
      if (repository.type !== 'hosted') {
        const reason =
          repository.type === 'proxy'
            ? 'a proxy: listing it would ask its remote'
            : 'a group: its members are listed themselves';
        skipped.push({ name: repository.name, type: repository.type, reason });
        continue;
      }
      repositories.push(await listRepository(client, registry, repository, credentials));
    }
    return { registry, repositories, skipped };
  } catch (error) {
    if (error instanceof ClientUsageError) throw error;
    throw new Error(describeRegistryFailure(error, registry, credentials), { cause: error });
  } finally {
    await client.close();
  }
}

/** The inventory as a table for people: one row per tag, then one total per repository. */
export function formatInventory(inventory: Inventory): string {
  const rows: string[][] = [['REPOSITORY', 'IMAGE', 'TAG', 'DIGEST', 'SIZE', 'LAST PULLED']];
  for (const repository of inventory.repositories) {
    for (const image of repository.images) {
      for (const tag of image.tags) {
        rows.push([
          repository.name,
          image.name,
          tag.tag,
          tag.digest.slice(0, 19),
          formatBytes(tag.size),
          tag.lastPulled === null ? 'never' : tag.lastPulled.replace(/\.\d+Z$/, 'Z'),
        ]);
      }
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  for (const repository of inventory.repositories) {
    const tags = repository.images.reduce((n, i) => n + i.tags.length, 0);
    lines.push(
      `${repository.name}: ${repository.images.length} image${repository.images.length === 1 ? '' : 's'}, ` +
        `${tags} tag${tags === 1 ? '' : 's'}, ${formatBytes(repository.size)} (shared blobs counted once)`,
    );
  }
  for (const s of inventory.skipped) lines.push(`${s.name}: not listed (${s.reason})`);
  return lines.join('\n');
}
