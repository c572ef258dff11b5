/**
 * `regctl import bundle.tar`: pushes every image of an air-gap bundle (oci-layout.ts) into a
 * running registry, under the names it was exported from (so into the repository the listener
 * routes them to: its hosted repository, or a group's writable member).
 *
 * The tar is read once, as a stream (a file, or stdin with `-`), in the order `regctl export` writes it: the listing first,
 * then each blob, which is hashed on the fly while it is uploaded (`POST …/blobs/uploads/`, then
 * one `PUT ?digest=` with the entry's bytes as its body, to every repository name that lacks it at
 * once) and refused when its bytes do not match its digest or size: the upload is aborted, so the
 * registry keeps nothing of it, and the import stops naming the blob. Manifests are small and held
 * until the end; only when every listed blob and manifest was read and checked are the manifests
 * pushed (children before parents) and then the tags. So a corrupt or cut bundle never tags
 * anything, and whatever it did upload is content the registry verified by digest.
 *
 * What the registry already has is not sent again: a `HEAD` per blob and name, per manifest and
 * per tag (a tag already on the bundle's digest is left alone), which makes a second import of
 * the same bundle cost one HEAD per item and no upload.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import tar from 'tar-stream';
import { digestOf, parseDigest } from '../runtime/oci/digest.ts';
import { MAX_MANIFEST_BYTES } from '../runtime/oci/manifest.ts';
import { type Entry, Pusher, uploadBlob } from './bundle-push.ts';
import {
  type BundleBlob,
  BundleError,
  type BundleListing,
  type BundleManifest,
  digestOfEntry,
  INDEX_ENTRY,
  LAYOUT_ENTRY,
  LISTING_ENTRY,
  listingProblem,
  MAX_LISTING_BYTES,
  REF_NAME_ANNOTATION,
} from './oci-layout.ts';
import { ProgressBar, type ProgressStream } from './progress.ts';
import { connectRegistry, describeRegistryFailure, formatBytes, type TargetOptions } from './target.ts';

export { BundleError } from './oci-layout.ts';

export interface ImportOptions extends TargetOptions {
  /** The bundle's path, or `-` for stdin. */
  readonly bundle: string;
  /** What `-` reads (default process.stdin). */
  readonly stdin?: NodeJS.ReadableStream;
  /** Where progress goes (default process.stderr). */
  readonly stderr?: ProgressStream;
  readonly timeoutMs?: number;
}

/** One image of the bundle and what its import did. */
export interface ImportedImage {
  readonly ref: string;
  readonly digest: string;
  /** `pushed`: the tag (or the manifest, for an image by digest) was written; `present`: it was already there. */
  readonly status: 'pushed' | 'present';
}

export interface ImportSummary {
  readonly registry: string;
  readonly images: readonly ImportedImage[];
  /** Blob uploads (one per blob and repository name that lacked it), and their bytes. */
  readonly blobsUploaded: number;
  readonly bytesUploaded: number;
  /** Blob and name pairs the registry already had. */
  readonly blobsPresent: number;
  readonly manifestsPushed: number;
  readonly manifestsPresent: number;
  readonly durationMs: number;
}

/** Reads a small entry whole, refusing more than `limit` bytes. */
async function readEntry(bundle: string, entry: Entry, name: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    size += chunk.length;
    if (size > limit) throw new BundleError(bundle, `${name} is larger than ${formatBytes(limit)}`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Reads past an entry. */
async function skipEntry(entry: Entry): Promise<void> {
  for await (const _chunk of entry);
}

/** Reads a small entry whole (bounded) and checks it is JSON. */
async function readJson(bundle: string, entry: Entry, name: string): Promise<unknown> {
  const body = await readEntry(bundle, entry, name, MAX_LISTING_BYTES);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new BundleError(bundle, `${name} is not valid JSON`);
  }
}

/** Hashes an entry the registry needs no bytes of, so the bundle is still checked whole. */
async function verifyBlob(bundle: string, blob: BundleBlob, entry: Entry, progress: ProgressBar): Promise<void> {
  const { algorithm, hex } = parseDigest(blob.digest);
  const hash = createHash(algorithm);
  let received = 0;
  for await (const chunk of entry) {
    hash.update(chunk);
    received += chunk.length;
    progress.advance(chunk.length);
  }
  if (received !== blob.size || hash.digest('hex') !== hex)
    throw new BundleError(
      bundle,
      `blob ${blob.digest} (${blob.mediaType}) does not match its digest: the bundle is corrupt`,
    );
}

/** Imports the bundle; see the module comment. */
export async function importBundle(options: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const out = options.stderr ?? process.stderr;
  const { bundle } = options;
  const { registry, credentials, client } = await connectRegistry(options);
  const pusher = new Pusher(client);
  const extract = tar.extract();
  const file: NodeJS.ReadableStream = bundle === '-' ? (options.stdin ?? process.stdin) : createReadStream(bundle);
  file.once('error', (error: Error) => extract.destroy(error));
  file.pipe(extract);
  let listing: BundleListing | undefined;
  let progress: ProgressBar | undefined;
  let layout = false;
  const blobsSeen = new Set<string>();
  const manifests = new Map<string, Buffer>();
  try {
    try {
      for await (const tarEntry of extract) {
        const entry = tarEntry as unknown as Entry;
        const name = tarEntry.header.name.replace(/^\.\//, '');
        if (tarEntry.header.type === 'directory' || name === '') {
          await skipEntry(entry);
          continue;
        }
        if (name === LAYOUT_ENTRY) {
          const value = (await readJson(bundle, entry, name)) as { imageLayoutVersion?: unknown } | null;
          if (value?.imageLayoutVersion !== '1.0.0')
            throw new BundleError(
              bundle,
              `oci-layout says imageLayoutVersion ${JSON.stringify(value?.imageLayoutVersion)}, not 1.0.0`,
            );
          layout = true;
          continue;
        }
        if (name === LISTING_ENTRY) {
          const value = await readJson(bundle, entry, name);
          const problem = listingProblem(value);
          if (problem !== undefined) throw new BundleError(bundle, `${LISTING_ENTRY}: ${problem}`);
          listing = value as BundleListing;
          const total = [...listing.blobs, ...listing.manifests].reduce((n, e) => n + e.size, 0);
          progress = new ProgressBar(out, total, `importing ${listing.images.length} images`);
          continue;
        }
        const digest = digestOfEntry(name);
        if (name === INDEX_ENTRY || digest === undefined) {
          if (name === INDEX_ENTRY && listing !== undefined)
            checkIndex(bundle, await readJson(bundle, entry, name), listing);
          else await skipEntry(entry);
          continue;
        }
        if (listing === undefined || progress === undefined) {
          throw new BundleError(
            bundle,
            `${name} comes before ${LISTING_ENTRY}: not a bundle written by regctl export (it writes the listing first so an import can stream)`,
          );
        }
        const manifest = listing.manifests.find((m) => m.digest === digest);
        if (manifest !== undefined) {
          const body = await readEntry(bundle, entry, name, MAX_MANIFEST_BYTES);
          if (body.length !== manifest.size || digestOf(body, parseDigest(digest).algorithm) !== digest)
            throw new BundleError(bundle, `manifest ${digest} does not match its digest: the bundle is corrupt`);
          manifests.set(digest, body);
          progress.advance(body.length);
          continue;
        }
        const blob = listing.blobs.find((b) => b.digest === digest);
        if (blob === undefined) throw new BundleError(bundle, `${name} is not in the bundle's listing`);
        if (blobsSeen.has(digest)) {
          await verifyBlob(bundle, blob, entry, progress);
          continue;
        }
        const missing: string[] = [];
        for (const target of blob.names) {
          if ((await pusher.has(target, `blobs/${digest}`, `blob ${target}@${digest}`)).found) pusher.present++;
          else missing.push(target);
        }
        if (missing.length === 0) await verifyBlob(bundle, blob, entry, progress);
        else await uploadBlob(bundle, pusher, blob, entry, missing, progress);
        blobsSeen.add(digest);
      }
    } finally {
      progress?.finish();
    }
    if (!layout || listing === undefined)
      throw new BundleError(
        bundle,
        `no ${layout ? LISTING_ENTRY : LAYOUT_ENTRY}: not a bundle written by regctl export`,
      );
    const absent = [
      ...listing.blobs.filter((b) => !blobsSeen.has(b.digest)),
      ...listing.manifests.filter((m) => !manifests.has(m.digest)),
    ];
    if (absent.length > 0) {
      throw new BundleError(
        bundle,
        `the bundle ends before ${absent.length} of its entries (first: ${absent[0]?.digest}): it was cut short; no image was tagged`,
      );
    }
    const pushedByDigest = new Set<string>();
    for (const manifest of listing.manifests) {
      for (const target of manifest.names) {
        if (await pusher.putManifest(target, manifest.digest, manifest, manifests.get(manifest.digest) as Buffer))
          pushedByDigest.add(`${target}@${manifest.digest}`);
      }
    }
    const images: ImportedImage[] = [];
    for (const image of listing.images) {
      const manifest = listing.manifests.find((m) => m.digest === image.digest) as BundleManifest;
      const pushed =
        image.tag === null
          ? pushedByDigest.has(`${image.name}@${image.digest}`)
          : await pusher.putManifest(image.name, image.tag, manifest, manifests.get(image.digest) as Buffer);
      images.push({ ref: image.ref, digest: image.digest, status: pushed ? 'pushed' : 'present' });
    }
    return {
      registry,
      images,
      blobsUploaded: pusher.uploads,
      bytesUploaded: pusher.bytes,
      blobsPresent: pusher.present,
      manifestsPushed: pusher.manifestsPushed,
      manifestsPresent: pusher.manifestsPresent,
      durationMs: Date.now() - started,
    };
  } catch (error) {
    if (error instanceof BundleError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BundleError(bundle, 'no such file');
    if (/unexpected end of data|invalid tar header/i.test((error as Error).message ?? ''))
      throw new BundleError(bundle, `not a complete tar file (${(error as Error).message})`);
    throw new Error(describeRegistryFailure(error, registry, credentials), { cause: error });
  } finally {
    if (bundle !== '-') (file as ReturnType<typeof createReadStream>).destroy();
    await client.close();
  }
}

/** Refuses an index.json that names other images than the listing. */
function checkIndex(bundle: string, value: unknown, listing: BundleListing): void {
  const entries = (value as { manifests?: { digest?: string; annotations?: Record<string, string> }[] } | null)
    ?.manifests;
  if (!Array.isArray(entries)) throw new BundleError(bundle, `${INDEX_ENTRY} has no manifests list`);
  for (const image of listing.images) {
    const named = entries.find((e) => e.annotations?.[REF_NAME_ANNOTATION] === image.ref);
    if (named?.digest !== image.digest)
      throw new BundleError(
        bundle,
        `${INDEX_ENTRY} does not name ${image.ref} as ${image.digest}, as the listing does`,
      );
  }
}

/** The result for people: one line per image, then the totals. */
export function formatImportSummary(summary: ImportSummary): string[] {
  const width = Math.max(5, ...summary.images.map((i) => i.ref.length));
  return [
    `${'IMAGE'.padEnd(width)}  DIGEST${' '.repeat(65)}  STATUS`,
    ...summary.images.map((i) => `${i.ref.padEnd(width)}  ${i.digest.padEnd(71)}  ${i.status}`),
    `${summary.images.length} images into ${summary.registry}: ${summary.blobsUploaded} blob uploads ` +
      `(${formatBytes(summary.bytesUploaded)}), ${summary.blobsPresent} already present; ` +
      `${summary.manifestsPushed} manifests and tags pushed, ${summary.manifestsPresent} already present; ` +
      `in ${(summary.durationMs / 1000).toFixed(1)} s`,
  ];
}
