/**
 * `regctl export -o bundle.tar IMAGE…`: writes images as a running registry serves them into an
 * air-gap bundle (an OCI image layout tar with regctl's listing, see oci-layout.ts), to carry to
 * a site without network and load there with `regctl import`.
 *
 * Two passes over the registry. First every manifest is read (they are small, bounded by the
 * registry's manifest limit) and the image trees walked: an index with all its children, or with
 * `--platform` only the matching ones (the index is then rewritten to list only those, so its
 * digest changes; the children keep theirs), and with `--referrers` the referrers of every
 * manifest (the OCI referrers API, else the `sha256-<hex>` tag schema), in bundle-collect.ts.
 * That gives the listing.
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
import { isDigest, parseDigest } from '../runtime/oci/digest.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import { withoutUserinfo } from '../runtime/upstream/errors.ts';
import { type Collected, Collection, collectImage, collectReferrers, short } from './bundle-collect.ts';
import { checkPlatform, collectReferences, parseImageReference, referenceProblem } from './image-references.ts';
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
  type Credentials,
  connectRegistry,
  describeRegistryFailure,
  formatBytes,
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
  const out = options.stderr ?? process.stderr;
  const references = await collectReferences(options.images, options.list);
  if (references.length === 0) throw new ClientUsageError('nothing to export: name images or give --list FILE');
  for (const platform of options.platforms ?? []) checkPlatform(platform);
  // Each image once, in the order first named (a list and the arguments may overlap).
  const parsed = [...new Set(references)].map((ref) => ({ ref, ...parseImageReference(ref) }));
  for (const { ref, name, reference } of parsed) {
    const problem = referenceProblem(name, reference);
    if (problem !== undefined) throw new ClientUsageError(`${ref}: ${problem}`);
  }
  const { registry, credentials, client } = await connectRegistry(options);
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
  credentials: Credentials,
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
