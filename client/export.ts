/**
 * `regctl export -o bundle.tar IMAGE…`: writes images as a running registry serves them into an
 * air-gap bundle (an OCI image layout tar with regctl's listing, see oci-layout.ts), to carry to
 * a site without network and load there with `regctl import`.
 *
 * Two passes over the registry. First every manifest is read (they are small, bounded by the
 * registry's manifest limit) and the image trees walked: an index with all its children, or with
 * `--platform` only the matching ones (the index is then rewritten to list only those, so its
 * digest changes; the children keep theirs), and with `--referrers` the referrers of every
 * manifest (the OCI referrers API, else the `sha256-<hex>` tag schema). That gives the listing.
 * Then the tar is written: the listing and index first, each blob once (streamed from the
 * registry, hashed on the fly, never buffered), the manifests last. The tar is written beside the
 * output under a temporary name and renamed when complete: a failed export leaves nothing. With
 * output `-` the tar goes to stdout as it is written (`regctl export -o - … | ssh site regctl
 * import -`): a failed export then ends the stream early, which the importer refuses as cut short.
 *
 * Images are taken as `regctl warm` takes them, from the same registry (`--registry`, or the first
 * listener of the config) with the same credentials (`REGCTL_USERNAME` / `REGCTL_PASSWORD`).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { digestOf, isDigest, parseDigest } from '../runtime/oci/digest.ts';
import { MAX_MANIFEST_BYTES, parseManifest } from '../runtime/oci/manifest.ts';
import { OCI_INDEX } from '../runtime/oci/media-types.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import { isUpstreamError, withoutUserinfo } from '../runtime/upstream/errors.ts';
import { discard, parseJson, readBounded } from '../runtime/upstream/responses.ts';
import {
  collectReferences,
  matchesPlatform,
  PLATFORM_PATTERN,
  type Platformed,
  parseImageReference,
  platformOf,
  referenceProblem,
} from './image-references.ts';
import {
  BUNDLE_VERSION,
  type BundleImage,
  type BundleListing,
  blobEntryName,
  INDEX_ENTRY,
  LAYOUT_ENTRY,
  LAYOUT_VERSION,
  LISTING_ENTRY,
  layoutIndex,
  refName,
} from './oci-layout.ts';
import { ProgressBar, type ProgressStream } from './progress.ts';
import {
  ClientUsageError,
  describeRegistryFailure,
  formatBytes,
  openRegistryClient,
  resolveCredentials,
  resolveRegistry,
  type TargetOptions,
} from './target.ts';

export interface ExportOptions extends TargetOptions {
  /** The bundle to write (replaced when it exists, only once the new one is complete), or `-` for stdout. */
  readonly output: string;
  /** Where `-` writes (default process.stdout). */
  readonly stdout?: NodeJS.WritableStream;
  readonly images?: readonly string[];
  /** A file with one image reference per line, as for `regctl warm --list`. */
  readonly list?: string;
  /** Keep only these `os/arch[/variant]` of each index (default: indexes whole). */
  readonly platforms?: readonly string[];
  /** Carry each manifest's referrers (signatures, SBOMs, attestations). */
  readonly referrers?: boolean;
  /** Where progress goes (default process.stderr). */
  readonly stderr?: ProgressStream;
  readonly timeoutMs?: number;
}

export interface ExportSummary {
  readonly output: string;
  readonly listing: BundleListing;
  /** Bytes of manifests and blobs written (each once). */
  readonly bytes: number;
  readonly durationMs: number;
}

const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** Index nesting and referrer chains are followed this deep. */
const MAX_DEPTH = 4;

interface Collected {
  readonly mediaType: string;
  readonly size: number;
  readonly names: Set<string>;
}

/** The registry's content of the images, gathered by the first pass. */
class Collection {
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
    const what = `referrers of ${name}@${digest}`;
    const { response, authorization } = await this.#client.send({
      method: 'GET',
      path: `v2/${name}/referrers/${digest}`,
      headers: { accept: OCI_INDEX },
      scope: `repository:${name}:pull`,
    });
    let index: unknown;
    if (response.status === 200) {
      index = parseJson(await readBounded(response.body, MAX_MANIFEST_BYTES, what), what);
    } else if (response.status === 404 || response.status === 405) {
      await discard(response.body);
      const { algorithm, hex } = parseDigest(digest);
      try {
        index = parseJson((await this.#client.getManifest(name, `${algorithm}-${hex}`)).body, what);
      } catch (error) {
        if (isUpstreamError(error) && error.code === 'UPSTREAM_NOT_FOUND') return [];
        throw error;
      }
    } else {
      throw await this.#client.failure(response, what, authorization);
    }
    const manifests = (index as { manifests?: unknown } | null)?.manifests;
    return Array.isArray(manifests)
      ? manifests.filter((m): m is { digest: string } => isDigest((m as { digest?: unknown })?.digest))
      : [];
  }
}

/** A digest's `sha256:0123456789ab` short form for people. */
const short = (digest: string) => digest.slice(0, digest.indexOf(':') + 13);

/** Walks an image tree into `collection`; see the module comment. */
async function collectImage(
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
async function collectReferrers(collection: Collection, name: string, members: Set<string>): Promise<string[]> {
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

/** A pass-through that hashes and counts what goes by. */
function hashing(algorithm: string, onBytes: (n: number) => void) {
  const hash = createHash(algorithm);
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
  return { stream, result: () => ({ hex: hash.digest('hex'), bytes }) };
}

/** Writes the bundle; see the module comment. */
export async function exportImages(options: ExportOptions): Promise<ExportSummary> {
  const started = Date.now();
  const env = options.env ?? process.env;
  const out = options.stderr ?? process.stderr;
  const references = await collectReferences(options.images, options.list);
  if (references.length === 0) throw new ClientUsageError('nothing to export: name images or give --list FILE');
  for (const platform of options.platforms ?? []) {
    if (!PLATFORM_PATTERN.test(platform))
      throw new ClientUsageError(`--platform ${platform}: expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  }
  // Each image once, in the order first named (a list and the arguments may overlap).
  const parsed = [...new Set(references)].map((ref) => ({ ref, ...parseImageReference(ref) }));
  for (const { ref, name, reference } of parsed) {
    const problem = referenceProblem(name, reference);
    if (problem !== undefined) throw new ClientUsageError(`${ref}: ${problem}`);
  }
  const registry = await resolveRegistry({ ...options, env });
  const credentials = resolveCredentials({ ...options, env });
  const client = openRegistryClient(registry, credentials, options.timeoutMs);
  const collection = new Collection(client);
  try {
    const images: BundleImage[] = [];
    for (const { ref, name, reference } of parsed) {
      try {
        const members = new Set<string>();
        const top = await collectImage(collection, name, reference, options.platforms, 0, members);
        const referrers = options.referrers === true ? await collectReferrers(collection, name, members) : [];
        const tag = isDigest(reference) ? null : reference;
        let size = 0;
        for (const digest of members)
          size += (collection.manifests.get(digest) ?? collection.blobs.get(digest))?.size ?? 0;
        images.push({ ref: refName(name, tag, top.digest), name, tag, size, referrers, ...top });
      } catch (error) {
        throw new Error(`${ref}: ${describeRegistryFailure(error, registry, credentials)}`, { cause: error });
      }
    }
    const names = (c: Collected) => [...c.names].sort();
    const listing: BundleListing = {
      bundleVersion: BUNDLE_VERSION,
      createdAt: new Date().toISOString(),
      source: withoutUserinfo(registry),
      platforms: options.platforms === undefined || options.platforms.length === 0 ? null : [...options.platforms],
      images,
      manifests: [...collection.manifests].map(([digest, m]) => ({
        digest,
        mediaType: m.mediaType,
        size: m.size,
        names: names(m),
      })),
      blobs: [...collection.blobs].map(([digest, b]) => ({
        digest,
        mediaType: b.mediaType,
        size: b.size,
        names: names(b),
      })),
    };
    const sink = options.output === '-' ? (options.stdout ?? process.stdout) : undefined;
    const bytes = await writeBundle(options.output, sink, listing, collection, client, out, registry, credentials);
    return { output: options.output, listing, bytes, durationMs: Date.now() - started };
  } finally {
    await client.close();
  }
}

async function writeBundle(
  output: string,
  stdout: NodeJS.WritableStream | undefined,
  listing: BundleListing,
  collection: Collection,
  client: UpstreamClient,
  out: ProgressStream,
  registry: string,
  credentials: ReturnType<typeof resolveCredentials>,
): Promise<number> {
  const total = [...listing.manifests, ...listing.blobs].reduce((n, e) => n + e.size, 0);
  const progress = new ProgressBar(out, total, `exporting ${listing.images.length} images`);
  const partial = `${output}.partial-${process.pid}`;
  const pack = tar.pack();
  const written = pipeline(pack, stdout ?? createWriteStream(partial), { end: stdout === undefined });
  const mtime = new Date(listing.createdAt);
  const entry = (name: string, body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, size: body.length, mode: 0o644, mtime }, body, (error) => (error ? reject(error) : resolve())),
    );
  try {
    await entry(LAYOUT_ENTRY, Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })));
    await entry(LISTING_ENTRY, Buffer.from(`${JSON.stringify(listing, null, 2)}\n`));
    await entry(INDEX_ENTRY, layoutIndex(listing));
    for (const blob of listing.blobs) {
      const from = blob.names[0] as string;
      try {
        const { algorithm, hex } = parseDigest(blob.digest);
        const served = await client.getBlob(from, blob.digest);
        if (served.size !== undefined && served.size !== blob.size)
          throw new Error(`blob ${blob.digest} is ${served.size} bytes, its manifest says ${blob.size}`);
        const hasher = hashing(algorithm, (n) => progress.advance(n));
        const sink = pack.entry({ name: blobEntryName(blob.digest), size: blob.size, mode: 0o644, mtime });
        await pipeline(served.body, hasher.stream, sink);
        const result = hasher.result();
        if (result.bytes !== blob.size || result.hex !== hex)
          throw new Error(`blob ${blob.digest} arrived with other content (${result.bytes} bytes)`);
      } catch (error) {
        throw new Error(`${from}@${blob.digest}: ${describeRegistryFailure(error, registry, credentials)}`, {
          cause: error,
        });
      }
    }
    for (const manifest of listing.manifests) {
      const body = collection.manifests.get(manifest.digest)?.body as Buffer;
      await entry(blobEntryName(manifest.digest), body);
      progress.advance(body.length);
    }
    pack.finalize();
    await written;
    if (stdout === undefined) await rename(partial, output);
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => {});
    if (stdout === undefined) await rm(partial, { force: true });
    throw error;
  } finally {
    progress.finish();
  }
  return total;
}

/** The listing for people: one line per image, then the totals. */
export function formatExportListing(summary: ExportSummary): string[] {
  const { listing } = summary;
  const rows = listing.images.map((image) => [
    image.ref,
    short(image.digest) + (image.servedDigest === undefined ? '' : ` (filtered from ${short(image.servedDigest)})`),
    image.platforms.join(',') || '-',
    formatBytes(image.size),
    String(image.referrers.length),
  ]);
  const header = ['IMAGE', 'DIGEST', 'PLATFORMS', 'SIZE', 'REFERRERS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...rows.map(line),
    `${listing.images.length} images, ${listing.manifests.length} manifests, ${listing.blobs.length} blobs, ` +
      `${formatBytes(summary.bytes)} written to ${summary.output === '-' ? 'stdout' : summary.output} in ${(summary.durationMs / 1000).toFixed(1)} s`,
  ];
}
