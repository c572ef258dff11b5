/**
 * The registry side of `regctl import` (import.ts): {@link Pusher} sends HEADs, uploads and
 * manifest PUTs through one registry client and counts them; {@link uploadBlob} streams one blob
 * entry of the bundle to every repository name that lacks it at once, hashing it on the way, and
 * aborts those uploads when the bytes are not the blob's (the registry keeps nothing of them).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { parseDigest } from '../runtime/oci/digest.ts';
import type { UpstreamClient } from '../runtime/upstream/client.ts';
import { discard, header, type UpstreamResponse } from '../runtime/upstream/responses.ts';
import { type BundleBlob, BundleError, type BundleManifest } from './oci-layout.ts';
import type { ProgressBar } from './progress.ts';

/** A tar entry's body (a streamx stream: iterated, never piped into node streams). */
export type Entry = AsyncIterable<Buffer>;

/** The registry answered a push with something else than success. */
class RefusedError extends Error {}

const scopeOf = (name: string) => `repository:${name}:pull,push`;

/** Pushes through one registry client, counting what it sends. */
export class Pusher {
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

/**
 * Streams one blob entry to every name in `targets` at once, hashing it on the way; aborts the
 * uploads and throws a {@link BundleError} when the bytes are not the blob's.
 */
export async function uploadBlob(
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
