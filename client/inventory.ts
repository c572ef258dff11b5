/**
 * `regctl ls`: what a running registry stores, read through its own API: the repositories from
 * `GET /-/status`, and for each hosted one its images (`/repository/<repo>/v2/_catalog`), tags
 * and the size of each tag (manifest, config and layers; for an index its child manifests too).
 * An image's size counts each blob once, however many of its tags share it.
 *
 * Only hosted repositories are listed: a proxy's tag list and manifests would be asked of its
 * remote (and pulled into the cache), and a group's members are listed in their own right.
 * "Last pulled" is not recorded by the registry yet, so it is reported as unknown (`null`).
 */
import { createHash } from 'node:crypto';
import { parseManifest } from '../runtime/oci/manifest.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import {
  ClientUsageError,
  type Credentials,
  connectRegistry,
  describeRefusal,
  describeRegistryFailure,
  formatBytes,
  openRegistryClient,
  type TargetOptions,
} from './target.ts';

/** One tag and what it takes. */
export interface TagEntry {
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Bytes of the manifest and every blob it references (child manifests of an index included). */
  readonly size: number;
  /** ISO time the tag was last pulled, or null when the registry does not say. */
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

interface StatusRepository {
  readonly name: string;
  readonly type: string;
}

/** The repositories of the serving plan, from `GET /-/status`. */
export async function fetchRepositories(client: UpstreamClient): Promise<StatusRepository[]> {
  const response = await client.request({ method: 'GET', path: '-/status' });
  const text = await readText(response.body);
  if (response.status !== 200) throw new Error(`GET /-/status answered ${response.status}`);
  return (JSON.parse(text) as { repositories: StatusRepository[] }).repositories;
}

async function readText(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024 * 1024) throw new Error('answer larger than 16 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Every image name of the repository the client is pinned to, following pagination (bounded). */
async function listCatalog(
  client: UpstreamClient,
  refused: (status: number, body: string) => string,
): Promise<string[]> {
  const names: string[] = [];
  let path = 'v2/_catalog?n=1000';
  for (let page = 0; page < 1000; page++) {
    const response = await client.request({ method: 'GET', path, scope: 'registry:catalog:*' });
    const text = await readText(response.body);
    if (response.status !== 200) throw new Error(refused(response.status, text));
    names.push(...((JSON.parse(text) as { repositories?: string[] }).repositories ?? []));
    const link = response.headers.link;
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(Array.isArray(link) ? link.join(',') : (link ?? ''));
    if (next === null) break;
    const url = new URL(next[1]!, 'http://registry.invalid');
    path = `${url.pathname.replace(/^.*?\/v2\//, 'v2/')}${url.search}`;
  }
  return [...new Set(names)].sort();
}

/** A tag's manifest, and the sizes of it and everything it references (each digest once in `seen`). */
async function sizeOf(
  client: UpstreamClient,
  image: string,
  reference: string,
  seen: Map<string, number>,
  depth = 0,
): Promise<{ digest: string; mediaType: string; size: number }> {
  const manifest = await client.getManifest(image, reference);
  const digest = manifest.digest ?? `sha256:${createHash('sha256').update(manifest.body).digest('hex')}`;
  const counted = new Map<string, number>([[digest, manifest.body.length]]);
  const parsed = parseManifest(manifest.body, manifest.mediaType);
  if (parsed.kind === 'index') {
    if (depth < 2) {
      const { manifests } = JSON.parse(manifest.body.toString('utf8')) as { manifests: { digest: string }[] };
      for (const child of manifests) {
        const inner = new Map<string, number>();
        await sizeOf(client, image, child.digest, inner, depth + 1);
        for (const [digest, size] of inner) counted.set(digest, size);
      }
    }
  } else {
    const { config, layers } = JSON.parse(manifest.body.toString('utf8')) as {
      config?: { digest: string; size: number };
      layers?: { digest: string; size: number }[];
    };
    for (const blob of [...(config ? [config] : []), ...(layers ?? [])]) counted.set(blob.digest, blob.size);
  }
  for (const [digest, size] of counted) seen.set(digest, size);
  const size = [...counted.values()].reduce((a, b) => a + b, 0);
  return { digest, mediaType: manifest.mediaType, size };
}

async function listRepository(
  registry: string,
  repository: StatusRepository,
  credentials: Credentials,
  timeoutMs: number | undefined,
): Promise<RepositoryEntry> {
  const client = openRegistryClient(
    `${registry}/repository/${encodeURIComponent(repository.name)}`,
    credentials,
    timeoutMs,
  );
  try {
    const images: ImageEntry[] = [];
    const all = new Map<string, number>();
    const refused = (status: number, body: string) =>
      describeRefusal(`the catalog of ${repository.name}`, status, body, registry, credentials);
    for (const name of await listCatalog(client, refused)) {
      const seen = new Map<string, number>();
      const tags: TagEntry[] = [];
      for (const tag of await client.listTags(name)) {
        const { digest, mediaType, size } = await sizeOf(client, name, tag, seen);
        tags.push({ tag, digest, mediaType, size, lastPulled: null });
      }
      for (const [digest, size] of seen) all.set(digest, size);
      images.push({ name, tags, size: [...seen.values()].reduce((a, b) => a + b, 0) });
    }
    return { name: repository.name, type: repository.type, images, size: [...all.values()].reduce((a, b) => a + b, 0) };
  } finally {
    await client.close();
  }
}

/** Lists the registry (see the module comment). */
export async function listRegistry(options: ListOptions): Promise<Inventory> {
  const { registry, credentials, client } = await connectRegistry(options);
  try {
    const all = await fetchRepositories(client);
    let wanted = all;
    if (options.repository !== undefined) {
      const found = all.find((r) => r.name === options.repository);
      if (found === undefined) {
        const names = all.map((r) => r.name).join(', ');
        throw new ClientUsageError(
          `no repository ${options.repository} in the registry at ${registry} (it has ${names})`,
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
      repositories.push(await listRepository(registry, repository, credentials, options.timeoutMs));
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
          tag.lastPulled ?? 'unknown',
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
  lines.push('last pulled: not recorded by this registry (unknown)');
  return lines.join('\n');
}
