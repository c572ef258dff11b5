/**
 * The first pass of `regctl export` (export.ts): reads every manifest of the images from the
 * registry (small, bounded, each checked against its digest) and walks the image trees into a
 * {@link Collection}: an index with its children (or, with `--platform`, the matching ones, the
 * index rewritten to list only those: new bytes, a new digest), each image's blobs, and with
 * `--referrers` the referrers of every manifest (the OCI referrers API, else the `sha256-<hex>`
 * tag schema), to {@link MAX_DEPTH}. No blob is read here except an image config, bounded, for
 * the platform the listing names.
 */
import { digestOf, isDigest, parseDigest } from '../runtime/oci/digest.ts';
import { MAX_MANIFEST_BYTES, parseManifest } from '../runtime/oci/manifest.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import { parseJson, readBounded } from '../runtime/upstream/responses.ts';
import { matchesPlatform, type Platformed, platformOf } from './image-references.ts';

const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** Index nesting and referrer chains are followed this deep. */
const MAX_DEPTH = 4;

export interface Collected {
  readonly mediaType: string;
  readonly size: number;
  readonly names: Set<string>;
}

/** The registry's content of the images, gathered by the first pass. */
export class Collection {
  readonly manifests = new Map<string, Collected & { body: Buffer }>();
  readonly blobs = new Map<string, Collected>();
  readonly #client: UpstreamClient;

  constructor(client: UpstreamClient) {
    this.#client = client;
  }

  /** The manifest `reference` of `name`, checked against its digest. */
  async manifest(name: string, reference: string) {
    const served = await this.#client.getManifest(name, reference);
    const expected = isDigest(reference) ? reference : served.digest?.startsWith('sha256:') ? served.digest : undefined;
    const digest = digestOf(served.body, expected === undefined ? 'sha256' : parseDigest(expected).algorithm);
    if (expected !== undefined && digest !== expected)
      throw new Error(`manifest ${name}@${expected} arrived with other content (${digest})`);
    return { body: served.body, parsed: parseManifest(served.body, served.mediaType), digest };
  }

  addManifest(name: string, digest: string, mediaType: string, body: Buffer): void {
    const known = this.manifests.get(digest);
    if (known !== undefined) known.names.add(name);
    // Insertion order is the push order: callers add children before their parent.
    else this.manifests.set(digest, { mediaType, size: body.length, body, names: new Set([name]) });
  }

  addBlob(name: string, descriptor: { digest: string; mediaType: string; size: number }): void {
    const known = this.blobs.get(descriptor.digest);
    if (known !== undefined) known.names.add(name);
    else this.blobs.set(descriptor.digest, { ...descriptor, names: new Set([name]) });
  }

  /** `os/arch[/variant]` from an image config (a small JSON blob, read bounded), or undefined. */
  async configPlatform(name: string, config: { digest: string; mediaType: string }): Promise<string | undefined> {
    if (!IMAGE_CONFIG_TYPES.has(config.mediaType)) return undefined;
    const blob = await this.#client.getBlob(name, config.digest);
    const body = await readBounded(blob.body, MAX_MANIFEST_BYTES, `config ${config.digest}`);
    if (digestOf(body, parseDigest(config.digest).algorithm) !== config.digest)
      throw new Error(`config ${name}@${config.digest} arrived with other content`);
    const { os, architecture, variant } = parseJson(body, `config ${config.digest}`) as Record<string, unknown>;
    return platformOf({ digest: config.digest, platform: { os, architecture, variant } as Platformed['platform'] });
  }

  /**
   * The referrers of `digest` in `name`: the OCI referrers API, or, when the registry has none
   * (404/405), the index tagged `sha256-<hex>` (the spec's fallback tag schema).
   */
  async referrers(name: string, digest: string): Promise<{ digest: string }[]> {
    const manifests = await this.#client.listReferrers(name, digest, { tagFallback: true });
    return manifests.filter((m): m is { digest: string } => isDigest((m as { digest?: unknown } | null)?.digest));
  }
}

/** A digest's `sha256:0123456789ab` short form for people. */
export const short = (digest: string) => digest.slice(0, digest.indexOf(':') + 13);

/** Walks an image tree into `collection`; see the module comment. */
export async function collectImage(
  collection: Collection,
  name: string,
  reference: string,
  platforms: readonly string[] | undefined,
  depth: number,
  members: Set<string>,
): Promise<{ digest: string; mediaType: string; platforms: string[]; servedDigest?: string }> {
  if (depth > MAX_DEPTH) throw new Error(`${name}@${reference}: indexes nested deeper than ${MAX_DEPTH}`);
  const { body, parsed, digest } = await collection.manifest(name, reference);
  if (parsed.kind === 'index') {
    const raw = JSON.parse(body.toString('utf8')) as { manifests: (Platformed & Record<string, unknown>)[] };
    let entries = raw.manifests;
    let written = body;
    let writtenDigest = digest;
    if (platforms !== undefined && depth === 0) {
      const kept = entries.filter((entry) => platforms.some((p) => matchesPlatform(entry, p)));
      if (kept.length === 0) {
        const has = entries.map((e) => platformOf(e) ?? 'unknown').join(', ');
        throw new Error(`no manifest for ${platforms.join(' or ')} in ${name}:${reference} (it has ${has})`);
      }
      if (kept.length < entries.length) {
        // The bundle's index lists only the kept platforms: new bytes, so a new digest.
        written = Buffer.from(JSON.stringify({ ...raw, manifests: kept }));
        writtenDigest = digestOf(written, parseDigest(digest).algorithm);
        entries = kept;
      }
    }
    for (const entry of entries) await collectImage(collection, name, entry.digest, undefined, depth + 1, members);
    collection.addManifest(name, writtenDigest, parsed.mediaType, written);
    members.add(writtenDigest);
    return {
      digest: writtenDigest,
      mediaType: parsed.mediaType,
      platforms: entries.map((e) => platformOf(e)).filter((p) => p !== undefined),
      ...(writtenDigest === digest ? {} : { servedDigest: digest }),
    };
  }
  for (const blob of parsed.blobs) {
    collection.addBlob(name, blob);
    members.add(blob.digest);
  }
  collection.addManifest(name, digest, parsed.mediaType, body);
  members.add(digest);
  const config = parsed.blobs[0];
  const platform = depth === 0 && config !== undefined ? await collection.configPlatform(name, config) : undefined;
  return { digest, mediaType: parsed.mediaType, platforms: platform === undefined ? [] : [platform] };
}

/** Adds the referrers of every manifest in `members` (and theirs, to {@link MAX_DEPTH}). */
export async function collectReferrers(collection: Collection, name: string, members: Set<string>): Promise<string[]> {
  const found: string[] = [];
  let subjects = [...members].filter((d) => collection.manifests.has(d));
  for (let depth = 0; depth < MAX_DEPTH && subjects.length > 0; depth++) {
    const next: string[] = [];
    for (const subject of subjects) {
      for (const referrer of await collection.referrers(name, subject)) {
        if (members.has(referrer.digest) || found.includes(referrer.digest)) continue;
        await collectImage(collection, name, referrer.digest, undefined, 1, new Set());
        found.push(referrer.digest);
        next.push(referrer.digest);
      }
    }
    subjects = next;
  }
  return found;
}
