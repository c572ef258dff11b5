/**
 * Before a manifest pushed through a group is stored in the writable member, every blob and child
 * manifest it references that the writable member lacks but another member has is copied there,
 * streamed (a blob never passes through memory). A reference nobody has is left alone: the
 * writable member's own check then refuses the manifest with MANIFEST_BLOB_UNKNOWN, as it would
 * for a direct push.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isRegistryError } from '../errors.ts';
import { parseManifest } from './manifest.ts';
import type { Repository } from './repository.ts';

const MAX_DEPTH = 4;

/** Codes that mean "this member does not have it": ask the next one. */
const MISS_CODES: ReadonlySet<string> = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);

/** True when a member's failure only says it does not have what was asked. */
export function isMemberMiss(error: unknown): boolean {
  return isRegistryError(error) && MISS_CODES.has(error.code);
}

async function has(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (error) {
    if (isMemberMiss(error)) return false;
    throw error;
  }
}

/** Copies what `body` references from `others` into `writable` (see the module comment). */
export async function copyMissingReferences(options: {
  image: string;
  body: Buffer;
  contentType: string;
  writable: Repository;
  others: readonly Repository[];
  log: FastifyBaseLogger;
  depth?: number;
}): Promise<void> {
  const { image, writable, others, log } = options;
  const depth = options.depth ?? 0;
  // The writable member's own parse, so both agree on what must exist; a manifest it would refuse
  // is refused here with the same MANIFEST_INVALID, before anything is copied.
  const references = parseManifest(options.body, options.contentType);
  for (const { digest } of references.blobs) {
    if (await has(() => writable.statBlob(image, digest))) continue;
    for (const member of others) {
      let response: Awaited<ReturnType<Repository['getBlob']>>;
      try {
        response = await member.getBlob(image, digest);
      } catch (error) {
        if (!isMemberMiss(error)) log.warn({ err: error, member: member.name, digest }, 'group copy: member failed');
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
  for (const { digest } of references.manifests) {
    if (await has(() => writable.getManifest(image, digest))) continue;
    for (const member of others) {
      let child: Awaited<ReturnType<Repository['getManifest']>>;
      try {
        child = await member.getManifest(image, digest);
      } catch (error) {
        if (!isMemberMiss(error)) log.warn({ err: error, member: member.name, digest }, 'group copy: member failed');
        continue;
      }
      await copyMissingReferences({ ...options, body: child.body, contentType: child.mediaType, depth: depth + 1 });
      await writable.putManifest(image, digest, child.body, child.mediaType);
      log.info(
        { image, digest, from: member.name, to: writable.name },
        'group copied a manifest into the writable member',
      );
      break;
    }
  }
}
