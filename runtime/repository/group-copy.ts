/**
 * Before a manifest pushed through a group is stored in the writable member, every blob and child
 * manifest it references that the writable member lacks but another member has is copied there,
 * streamed (a blob never passes through memory). A reference nobody has is left alone: the
 * writable member's own check then refuses the manifest with MANIFEST_BLOB_UNKNOWN, as it would
 * for a direct push.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isRegistryError } from '../errors.ts';
import type { Digest } from '../storage/blob-store.ts';
import type { Repository } from './repository.ts';

const FOREIGN = /nondistributable|foreign/;
const MAX_DEPTH = 4;

interface References {
  readonly blobs: Digest[];
  readonly manifests: Digest[];
}

/** The blobs (config, distributable layers) and child manifests a manifest body refers to. */
export function referencesOf(body: Buffer): References {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { blobs: [], manifests: [] }; // the writable member rejects it with MANIFEST_INVALID
  }
  const record = (parsed ?? {}) as { config?: unknown; layers?: unknown; manifests?: unknown };
  const digestOf = (d: unknown) =>
    typeof d === 'object' && d !== null && typeof (d as { digest?: unknown }).digest === 'string'
      ? (d as { digest: string }).digest
      : undefined;
  const blobs: Digest[] = [];
  const config = digestOf(record.config);
  if (config !== undefined) blobs.push(config);
  if (Array.isArray(record.layers)) {
    for (const layer of record.layers) {
      const digest = digestOf(layer);
      const mediaType = (layer as { mediaType?: unknown }).mediaType;
      if (digest !== undefined && !(typeof mediaType === 'string' && FOREIGN.test(mediaType))) blobs.push(digest);
    }
  }
  const manifests = Array.isArray(record.manifests)
    ? record.manifests.map(digestOf).filter((d): d is string => d !== undefined)
    : [];
  return { blobs: [...new Set(blobs)], manifests: [...new Set(manifests)] };
}

const isMiss = (error: unknown) =>
  isRegistryError(error) && ['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN'].includes(error.code);

async function has(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (error) {
    if (isMiss(error)) return false;
    throw error;
  }
}

/** Copies what `body` references from `others` into `writable` (see the module comment). */
export async function copyMissingReferences(options: {
  image: string;
  body: Buffer;
  writable: Repository;
  others: readonly Repository[];
  log: FastifyBaseLogger;
  depth?: number;
}): Promise<void> {
  const { image, writable, others, log } = options;
  const depth = options.depth ?? 0;
  const references = referencesOf(options.body);
  for (const digest of references.blobs) {
    if (await has(() => writable.statBlob(image, digest))) continue;
    for (const member of others) {
      let response: Awaited<ReturnType<Repository['getBlob']>>;
      try {
        response = await member.getBlob(image, digest);
      } catch (error) {
        if (!isMiss(error)) log.warn({ err: error, member: member.name, digest }, 'group copy: member failed');
        continue;
      }
      if (!('stream' in response.body)) continue;
      const started = await writable.startUpload(image);
      if ('mounted' in started) break;
      await writable.completeUpload(image, started.upload.id, digest, response.body.stream);
      log.info({ image, digest, from: member.name, to: writable.name }, 'group copied a blob into the writable member');
      break;
    }
  }
  if (depth >= MAX_DEPTH) return;
  for (const digest of references.manifests) {
    if (await has(() => writable.getManifest(image, digest))) continue;
    for (const member of others) {
      let child: Awaited<ReturnType<Repository['getManifest']>>;
      try {
        child = await member.getManifest(image, digest);
      } catch (error) {
        if (!isMiss(error)) log.warn({ err: error, member: member.name, digest }, 'group copy: member failed');
        continue;
      }
      await copyMissingReferences({ ...options, body: child.body, depth: depth + 1 });
      await writable.putManifest(image, digest, child.body, child.mediaType);
      log.info(
        { image, digest, from: member.name, to: writable.name },
        'group copied a manifest into the writable member',
      );
      break;
    }
  }
}
