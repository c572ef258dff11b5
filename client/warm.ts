/**
 * `regctl warm`: pulls a list of images through a running registry so that its proxy caches hold
 * them before anyone needs them (a CI fleet's base images, a cluster's system images).
 *
 * Every image is pulled the way a client would: its manifest, for an index the child manifests of
 * the chosen platform (or all of them with `all`), then each config and layer blob. Blob bodies are
 * consumed as streams, hashed on the fly (a wrong body counts as a failure) and discarded, never
 * buffered. Progress goes to stderr: a redrawn bar on a TTY, with each failed image and its reason
 * printed above it; one line per image otherwise; then a summary. The CLI exits 1 when `failed` is
 * non-empty, 2 on a {@link WarmUsageError}.
 *
 * Its client is an {@link UpstreamClient} whose "upstream" is the registry being warmed, so a
 * failure is told from warm's side ({@link describeWarmFailure}): the registry itself refused our
 * (missing) credentials, is unreachable, or answered an error whose message it relays.
 */
import { createHash } from 'node:crypto';
import { parseDigest } from '../runtime/oci/digest.ts';
import { parseManifest } from '../runtime/oci/manifest.ts';
import {
  checkPlatform,
  collectReferences,
  hostPlatform,
  matchesPlatform,
  type Platformed,
  parseImageReference,
  referenceProblem,
} from './image-references.ts';
import { ClientUsageError, connectRegistry, describeRegistryFailure, formatBytes } from './target.ts';

/** Options of {@link warm}, as the CLI passes them. */
export interface WarmOptions {
  /** Base URL of the running registry; default: the first listener of the config's plan. */
  readonly registry?: string;
  readonly configPath?: string;
  /** A file with one image reference per line (`name[:tag|@digest]`; `#` comments, blank lines). */
  readonly list?: string;
  /** More references, e.g. from the command line. */
  readonly images?: readonly string[];
  /** Images pulled at the same time (default 4). */
  readonly concurrency?: number;
  /** `os/arch[/variant]` picked from an index (default: linux and this machine's architecture). */
  readonly platform?: string;
  /** Every child of an index, not just one platform. */
  readonly all?: boolean;
  /** Credentials for the registry (default: env `REGCTL_USERNAME` / `REGCTL_PASSWORD`). */
  readonly username?: string;
  readonly password?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where progress goes (default process.stderr). */
  readonly stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly timeoutMs?: number;
}

/** What `warm` did. */
export interface WarmSummary {
  readonly images: number;
  readonly manifests: number;
  readonly blobs: number;
  readonly bytes: number;
  readonly durationMs: number;
  /** One entry per image that failed, with the reason. */
  readonly failed: readonly { readonly image: string; readonly error: string }[];
}

/** Options that cannot work (nothing to warm, a malformed --platform, …): see {@link ClientUsageError}. */
export { ClientUsageError as WarmUsageError } from './target.ts';

/** Why pulling an image failed, in warm's terms (see {@link describeRegistryFailure}). */
export const describeWarmFailure = describeRegistryFailure;
export { parseImageReference } from './image-references.ts';

/** Pulls every listed image through the registry; see the module comment. */
export async function warm(options: WarmOptions): Promise<WarmSummary> {
  const started = Date.now();
  const out = options.stderr ?? process.stderr;
  const references = await collectReferences(options.images, options.list);
  if (references.length === 0) throw new ClientUsageError('nothing to warm: name images or give --list FILE');
  const platform = checkPlatform(options.platform ?? hostPlatform());
  const { registry, credentials, client } = await connectRegistry(options);
  const totals = { images: 0, manifests: 0, blobs: 0, bytes: 0 };
  const failed: { image: string; error: string }[] = [];
  let done = 0;
  const tty = out.isTTY === true;
  const draw = () => {
    const width = 30;
    const filled = references.length === 0 ? width : Math.round((done / references.length) * width);
    out.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${references.length} images, ` +
        `${formatBytes(totals.bytes)}${failed.length > 0 ? `, ${failed.length} failed` : ''}   `,
    );
  };

  const pullBlob = async (name: string, digest: string) => {
    const { algorithm, hex } = parseDigest(digest);
    const blob = await client.getBlob(name, digest);
    const hash = createHash(algorithm);
    for await (const chunk of blob.body) {
      hash.update(chunk as Buffer);
      totals.bytes += (chunk as Buffer).length;
      if (tty) draw();
    }
    if (hash.digest('hex') !== hex) throw new Error(`blob ${digest} arrived with other content`);
    totals.blobs++;
  };

  const pullManifest = async (name: string, reference: string, depth: number): Promise<number> => {
    const manifest = await client.getManifest(name, reference);
    totals.manifests++;
    // The registry's own checks: a body it would refuse to store fails the image with their message.
    const parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind === 'index') {
      if (depth > 2) return 0;
      const { manifests } = JSON.parse(manifest.body.toString('utf8')) as { manifests: Platformed[] };
      const children = manifests.filter((m) => options.all === true || matchesPlatform(m, platform));
      if (children.length === 0) throw new Error(`no manifest for platform ${platform} in ${name}:${reference}`);
      let blobs = 0;
      for (const child of children) blobs += await pullManifest(name, child.digest, depth + 1);
      return blobs;
    }
    for (const blob of parsed.blobs) await pullBlob(name, blob.digest);
    return parsed.blobs.length;
  };

  const queue = [...references];
  const worker = async () => {
    for (let ref = queue.shift(); ref !== undefined; ref = queue.shift()) {
      const { name, reference } = parseImageReference(ref);
      const t0 = Date.now();
      try {
        const problem = referenceProblem(name, reference);
        if (problem !== undefined) throw new Error(problem);
        const blobs = await pullManifest(name, reference, 0);
        totals.images++;
        if (!tty) out.write(`ok     ${ref} (${blobs} blobs, ${Date.now() - t0} ms)\n`);
      } catch (error) {
        const message = describeRegistryFailure(error, registry, credentials);
        failed.push({ image: ref, error: message });
        // On a TTY the line goes above the bar (cleared first), which is then drawn again below it.
        out.write(`${tty ? '\r\x1b[K' : ''}FAILED ${ref}: ${message}\n`);
      }
      done++;
      if (tty) draw();
    }
  };
  try {
    const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, 64));
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, references.length)) }, worker));
  } finally {
    await client.close();
  }
  const durationMs = Date.now() - started;
  if (tty) out.write('\n');
  out.write(
    `warmed ${totals.images}/${references.length} images (${totals.manifests} manifests, ${totals.blobs} blobs, ` +
      `${formatBytes(totals.bytes)}) in ${(durationMs / 1000).toFixed(1)} s` +
      `${failed.length > 0 ? `; ${failed.length} failed: ${failed.map((f) => f.image).join(', ')}` : ''}\n`,
  );
  return { ...totals, durationMs, failed };
}
