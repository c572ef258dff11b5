/**
 * Before a manifest pushed through a group is stored in the writable member, every blob and child
 * manifest it references that the writable member lacks but another member has is copied there,
 * streamed (a blob never passes through memory). A reference nobody has is left alone: the
 * writable member's own check then refuses the manifest with MANIFEST_BLOB_UNKNOWN, as it would
 * for a direct push.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isRegistryError } from '../../oci/errors.ts';
import { parseManifest } from '../../oci/manifest.ts';
import type { BlobInfo, Digest } from '../../storage/blob-store.ts';
import type { BlobResponse, Repository, WritableRepository } from '../repository.ts';

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

/**
 * Streams blob `digest` of image `from` out of the first of `members` that has it into `writable`
 * as `image`: into upload session `upload` of `writable` when given, else a new one. Undefined when
 * no member could give it (misses, failures and members that only offer a redirect are skipped,
 * the last two logged). A failing write throws; the member's stream is released either way.
 */
export async function copyBlob(options: {
  image: string;
  from: string;
  digest: Digest;
  writable: WritableRepository;
  members: readonly Repository[];
  log: FastifyBaseLogger;
  upload?: string;
}): Promise<BlobInfo | undefined> {
  const { image, from, digest, writable, log } = options;
  for (const member of options.members) {
    if (member === writable) continue;
    let response: BlobResponse;
    try {
      response = await member.getBlob(from, digest);
    } catch (error) {
      if (!isMemberMiss(error)) log.warn({ err: error, member: member.name, digest }, 'group copy: member failed');
      continue;
    }
    if (!('stream' in response.body)) {
      log.warn({ member: member.name, digest }, 'group copy: the member only offers a redirect for this blob');
      continue;
    }
    const { stream } = response.body;
    try {
      let id = options.upload;
      if (id === undefined) {
        const started = await writable.startUpload(image);
        if ('mounted' in started) return started.mounted;
        id = started.upload.id;
      }
      const info = await writable.completeUpload(image, id, digest, stream);
      log.info({ image, digest, from: member.name, to: writable.name }, 'group copied a blob into the writable member');
      return info;
    } finally {
      // A no-op once consumed; an unread stream (the write failed first) would hold the member's
      // upstream fetch paused for good.
      stream.destroy();
    }
  }
  return undefined;
}

/** Copies what `body` references from `others` into `writable` (see the module comment). */
export async function copyMissingReferences(options: {
  image: string;
  body: Buffer;
  contentType: string;
  writable: WritableRepository;
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
    await copyBlob({ image, from: image, digest, writable, members: others, log });
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
