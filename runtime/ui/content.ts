/**
 * What the UI shows of stored images, read through a repository's {@link StoredContent} (no pull
 * recorded, nothing fetched upstream): a manifest parsed leniently into what a page lists, and
 * the summary of one tag (digest, size, platforms, times) for the tag table. Only the items of
 * the page being rendered are read: a tag page of 50 reads 50 tags, their manifests and, for
 * indexes, their children (bounded by {@link MAX_CHILDREN}).
 */

import type { StoredContent, StoredManifest } from '../repositories/repository.ts';
import type { Digest } from '../storage/blob-store.ts';

/** Children of an index read for a tag's size and platforms, at most. */
export const MAX_CHILDREN = 32;

/** A descriptor as the UI lists it. */
export interface Item {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly platform?: string;
  readonly artifactType?: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A stored manifest, parsed for display. */
export interface ManifestView {
  readonly stored: StoredManifest;
  readonly kind: 'index' | 'image';
  /** An index's manifests. */
  readonly children: readonly Item[];
  readonly config?: Item;
  readonly layers: readonly Item[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly artifactType?: string;
  readonly subject?: Digest;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function strings(value: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(record(value)).filter((entry) => typeof entry[1] === 'string')) as Record<
    string,
    string
  >;
}

/** `os/architecture[/variant]` of a platform object, or undefined. */
export function formatPlatform(value: unknown): string | undefined {
  const platform = record(value);
  const { os, architecture, variant } = platform;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return [os, architecture, ...(typeof variant === 'string' && variant !== '' ? [variant] : [])].join('/');
}

function item(value: unknown): Item | undefined {
  const d = record(value);
  if (typeof d.digest !== 'string' || typeof d.mediaType !== 'string') return undefined;
  const platform = formatPlatform(d.platform);
  return {
    digest: d.digest,
    mediaType: d.mediaType,
    size: typeof d.size === 'number' ? d.size : 0,
    ...(platform === undefined ? {} : { platform }),
    ...(typeof d.artifactType === 'string' ? { artifactType: d.artifactType } : {}),
    annotations: strings(d.annotations),
  };
}

/** Parses a stored manifest; undefined when its body is not a JSON object. */
export function viewManifest(stored: StoredManifest): ManifestView | undefined {
  let body: Record<string, unknown>;
  try {
    body = record(JSON.parse(stored.body.toString('utf8')));
  } catch {
    return undefined;
  }
  const items = (value: unknown) => (Array.isArray(value) ? value.flatMap((v) => item(v) ?? []) : []);
  const isIndex = Array.isArray(body.manifests);
  const config = item(body.config);
  const subject = item(body.subject)?.digest;
  return {
    stored,
    kind: isIndex ? 'index' : 'image',
    children: items(body.manifests),
    ...(config === undefined ? {} : { config }),
    layers: items(body.layers),
    annotations: strings(body.annotations),
    ...(typeof body.artifactType === 'string' ? { artifactType: body.artifactType } : {}),
    ...(subject === undefined ? {} : { subject }),
  };
}

/** The bytes an image manifest adds up to: config and layers (the manifest itself not counted). */
export function imageBytes(view: ManifestView): number {
  return (view.config?.size ?? 0) + view.layers.reduce((sum, layer) => sum + layer.size, 0);
}

/** The platform an image's config declares, read from the store; undefined when it cannot be read. */
export async function configPlatform(
  stored: StoredContent,
  image: string,
  view: ManifestView,
): Promise<string | undefined> {
  if (view.config === undefined || view.config.size > 64 * 1024) return undefined;
  const body = await stored.readConfig(image, view.config.digest);
  if (body === undefined) return undefined;
  try {
    return formatPlatform(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}

/** One row of a tag table. */
export interface TagSummary {
  readonly tag: string;
  /** Undefined when the tag no longer resolves (deleted while the page was built). */
  readonly view?: ManifestView;
  /** Bytes of distinct blobs of the image or of every platform of the index (as far as stored). */
  readonly size?: number;
  readonly platforms: readonly string[];
}

/**
 * Config platforms already read while rendering one page, by config digest: the tags of an image
 * often share a config (a re-tag, a rebuild with the same settings), and a config never changes.
 */
export type PlatformMemo = Map<Digest, Promise<string | undefined>>;

/** {@link configPlatform}, once per config digest of `memo`. */
function memoPlatform(stored: StoredContent, image: string, view: ManifestView, memo: PlatformMemo) {
  const digest = view.config?.digest;
  if (digest === undefined) return Promise.resolve(undefined);
  let platform = memo.get(digest);
  if (platform === undefined) {
    platform = configPlatform(stored, image, view);
    memo.set(digest, platform);
  }
  return platform;
}

/** The config and layers of an image manifest view (none for an index). */
export function viewBlobs(view: ManifestView): Item[] {
  return [...(view.config ? [view.config] : []), ...view.layers];
}

/** A tag's stored manifest and, for an index, the children the store holds. */
export interface TagContent {
  readonly manifest: StoredManifest;
  readonly view: ManifestView;
  /** An index's first `maxChildren` children that are stored and parse, in index order. */
  readonly children: readonly ManifestView[];
}

/**
 * Reads what a tag points to: its manifest and, for an index, its first `maxChildren` children.
 * Undefined when the tag no longer resolves or its manifest does not parse. Shared by the tag
 * table ({@link summarizeTag}) and `GET /-/inventory` (runtime/http/routes/inventory.ts).
 */
export async function readTagContent(
  stored: StoredContent,
  image: string,
  tag: string,
  maxChildren = MAX_CHILDREN,
): Promise<TagContent | undefined> {
  const digest = await stored.resolveTag(image, tag);
  const manifest = digest === undefined ? undefined : await stored.readManifest(image, digest);
  const view = manifest === undefined ? undefined : viewManifest(manifest);
  if (manifest === undefined || view === undefined) return undefined;
  if (view.kind === 'image') return { manifest, view, children: [] };
  const read = await Promise.all(
    view.children.slice(0, maxChildren).map((child) => stored.readManifest(image, child.digest)),
  );
  const children = read.flatMap((child) => {
    const childView = child === undefined ? undefined : viewManifest(child);
    return childView === undefined ? [] : [childView];
  });
  return { manifest, view, children };
}

/** Reads one tag's summary: its manifest and, for an index, its stored children. */
export async function summarizeTag(
  stored: StoredContent,
  image: string,
  tag: string,
  memo: PlatformMemo = new Map(),
): Promise<TagSummary> {
  const content = await readTagContent(stored, image, tag);
  if (content === undefined) return { tag, platforms: [] };
  const { view } = content;
  if (view.kind === 'image') {
    const platform = await memoPlatform(stored, image, view, memo);
    return { tag, view, size: imageBytes(view), platforms: platform === undefined ? [] : [platform] };
  }
  const blobs = new Map<string, number>();
  for (const child of content.children) for (const blob of viewBlobs(child)) blobs.set(blob.digest, blob.size);
  const size = [...blobs.values()].reduce((sum, bytes) => sum + bytes, 0);
  const platforms = view.children
    .slice(0, MAX_CHILDREN)
    .flatMap((child) => (child.platform === undefined ? [] : [child.platform]));
  return { tag, view, size, platforms };
}
