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
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { digestOf, parseDigest } from '../runtime/oci/digest.ts';
import { MAX_MANIFEST_BYTES } from '../runtime/oci/manifest.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import { discard, header, type UpstreamResponse } from '../runtime/upstream/responses.ts';
import {
  type BundleBlob,
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
import {
  describeRegistryFailure,
  formatBytes,
  openRegistryClient,
  resolveCredentials,
  resolveRegistry,
  type TargetOptions,
} from './target.ts';

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

/** The bundle is not one `regctl import` can load, or its content is not what it says. */
export class BundleError extends Error {
  constructor(bundle: string, message: string) {
    super(`${bundle}: ${message}`);
    this.name = 'BundleError';
  }
}

/** The registry answered a push with something else than success. */
class RefusedError extends Error {}

const scopeOf = (name: string) => `repository:${name}:pull,push`;

/** Pushes through one registry client, counting what it sends. */
class Pusher {
  readonly #client: UpstreamClient;
  uploads = 0;
  bytes = 0;
  present = 0;
  manifestsPushed = 0;
  manifestsPresent = 0;

  constructor(client: UpstreamClient) {
    this.#client = client;
  }

  /** Whether `name` has `path` (a blob or manifest) answering 200, with its digest header. */
  async has(name: string, path: string, what: string): Promise<{ found: boolean; digest?: string }> {
    const { response, authorization } = await this.#client.send({
      method: 'HEAD',
      path: `v2/${name}/${path}`,
      headers: { accept: '*/*' },
      scope: scopeOf(name),
    });
    await discard(response.body);
    if (response.status === 200) return { found: true, digest: header(response.headers, 'docker-content-digest') };
    if (response.status === 404) return { found: false };
    throw await this.#client.failure(response, what, authorization);
  }

  async #expect(response: UpstreamResponse, authorization: string | undefined, status: number[], what: string) {
    if (status.includes(response.status)) return;
    throw await this.#client.failure(response, what, authorization);
  }

  /** Starts an upload session in `name`; resolves to the absolute URL to PUT to, and the Authorization that worked. */
  async startUpload(name: string, digest: string): Promise<{ url: string; authorization: string | undefined }> {
    const what = `upload of ${name}@${digest}`;
    const { response, authorization } = await this.#client.write({
      method: 'POST',
      path: `v2/${name}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      scope: scopeOf(name),
    });
    await this.#expect(response, authorization, [202], what);
    await discard(response.body);
    const location = header(response.headers, 'location');
    if (location === undefined) throw new RefusedError(`${what}: the registry answered 202 without a Location`);
    const url = new URL(location, response.url);
    url.searchParams.set('digest', digest);
    return { url: url.href, authorization };
  }

  /** Completes an upload with `body` as its whole content. */
  async finishUpload(
    name: string,
    started: { url: string; authorization: string | undefined },
    blob: BundleBlob,
    body: Readable,
  ): Promise<void> {
    const { response, authorization } = await this.#client.write({
      method: 'PUT',
      path: started.url,
      ...(started.authorization === undefined ? {} : { authorization: started.authorization }),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      scope: scopeOf(name),
      body,
    });
    await this.#expect(response, authorization, [201], `upload of ${name}@${blob.digest}`);
    await discard(response.body);
    this.uploads++;
    this.bytes += blob.size;
  }

  /** Pushes a manifest under `reference` (its digest or a tag) unless `name` already has it there. */
  async putManifest(name: string, reference: string, manifest: BundleManifest, body: Buffer): Promise<boolean> {
    const what = `manifest ${name}:${reference}`;
    const known = await this.has(name, `manifests/${reference}`, what);
    if (known.found && (reference === manifest.digest || known.digest === manifest.digest)) {
      this.manifestsPresent++;
      return false;
    }
    const { response, authorization } = await this.#client.write({
      method: 'PUT',
      path: `v2/${name}/manifests/${reference}`,
      headers: { 'content-type': manifest.mediaType },
      scope: scopeOf(name),
      body,
    });
    await this.#expect(response, authorization, [201], what);
    await discard(response.body);
    this.manifestsPushed++;
    return true;
  }
}

/** A tar entry's body (a streamx stream: iterated, never piped into node streams). */
type Entry = AsyncIterable<Buffer>;

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

/**
 * Streams one blob entry to every name in `targets` at once, hashing it on the way; aborts the
 * uploads and throws a {@link BundleError} when the bytes are not the blob's.
 */
async function uploadBlob(
  bundle: string,
  pusher: Pusher,
  blob: BundleBlob,
  entry: Entry,
  targets: readonly string[],
  progress: ProgressBar,
): Promise<void> {
  const { algorithm, hex } = parseDigest(blob.digest);
  const hash = createHash(algorithm);
  const sessions = await Promise.all(targets.map((name) => pusher.startUpload(name, blob.digest)));
  const bodies = targets.map(() => new PassThrough());
  let feeding = true;
  const puts = targets.map((name, i) =>
    pusher.finishUpload(name, sessions[i]!, blob, bodies[i] as PassThrough).finally(() => {
      // The registry answered before the body was sent whole: stop feeding it.
      if (feeding) for (const body of bodies) body.destroy(new Error('the registry answered before the upload ended'));
    }),
  );
  const settled = Promise.allSettled(puts);
  let received = 0;
  try {
    for await (const chunk of entry) {
      hash.update(chunk);
      received += chunk.length;
      progress.advance(chunk.length);
      await Promise.all(bodies.map((body) => feed(body, chunk)));
    }
    if (received !== blob.size || hash.digest('hex') !== hex) {
      throw new BundleError(
        bundle,
        `blob ${blob.digest} (${blob.mediaType}) does not match its digest${received === blob.size ? '' : ` or size (${received} bytes, the listing says ${blob.size})`}: the bundle is corrupt; nothing of this blob was stored and no image was tagged`,
      );
    }
    feeding = false;
    for (const body of bodies) body.end();
  } catch (error) {
    feeding = false;
    for (const body of bodies) body.destroy(error as Error);
    await settled;
    const failed = (await settled).find((s) => s.status === 'rejected');
    if (error instanceof BundleError || failed === undefined) throw error;
    throw failed.reason;
  }
  const failed = (await settled).find((s) => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Writes `chunk` to an upload's body, waiting for it to drain; rejects once the body is gone. */
async function feed(body: PassThrough, chunk: Buffer): Promise<void> {
  if (body.destroyed) throw new Error('the upload ended early');
  if (body.write(chunk)) return;
  const done = new AbortController();
  try {
    await Promise.race([
      once(body, 'drain', { signal: done.signal }),
      once(body, 'close', { signal: done.signal }).then(() => {
        throw new Error('the upload ended early');
      }),
    ]);
  } finally {
    done.abort(); // the other listener goes with it
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
  const env = options.env ?? process.env;
  const out = options.stderr ?? process.stderr;
  const { bundle } = options;
  const registry = await resolveRegistry({ ...options, env });
  const credentials = resolveCredentials({ ...options, env });
  const client = openRegistryClient(registry, credentials, options.timeoutMs);
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
