/**
 * Writes a benchmark store shape (gc-shape.ts) where each registry keeps it: into a regctl blob
 * store through the BlobStore API (blobs with `putBlob`, the hosted metadata documents of
 * runtime/repositories/hosted/metadata.ts with `putMeta`), and into distribution's layout on a
 * filesystem or in an S3 bucket. Writes run `concurrency` at a time; nothing is held whole but the
 * small manifests.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { hostedKeys } from '../../runtime/repositories/hosted/metadata.ts';
import type { BlobStore } from '../../runtime/storage/blob-store.ts';
import { distributionLayout, type GcShape, MANIFEST_MEDIA_TYPE, shapeBlobs } from './gc-shape.ts';

/** Runs `fn` over an iterable `concurrency` at a time (without materialising the iterable's values). */
async function forEachLimit<T>(
  items: Iterable<T>,
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<number> {
  const iterator = items[Symbol.iterator]();
  let count = 0;
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      await fn(next.value);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return count;
}

/** The metadata documents of the shape in repository `repository`, as regctl's hosted repositories write them. */
export function* hostedDocuments(shape: GcShape, repository: string, linkedAt: number): Generator<[string, string]> {
  const keys = hostedKeys(repository);
  for (const image of shape.images) yield [keys.catalogEntry(image), ''];
  for (const m of shape.manifests) {
    for (const r of m.references) yield [keys.layer(m.image, r.digest), String(linkedAt)];
    if (m.fate !== 'deleted')
      yield [keys.manifest(m.image, m.digest), JSON.stringify({ mediaType: MANIFEST_MEDIA_TYPE, linkedAt })];
    if (m.fate === 'tagged') yield [keys.tag(m.image, m.tag), m.digest];
  }
  for (const o of shape.orphans) yield [keys.layer(o.image, o.digest), String(linkedAt)];
}

/** Seeds a regctl store; returns how many blobs and documents were written. */
export async function seedRegctlStore(
  store: BlobStore,
  shape: GcShape,
  options: { repository: string; linkedAt: number; concurrency: number },
): Promise<{ blobs: number; documents: number }> {
  const blobs = await forEachLimit(shapeBlobs(shape), options.concurrency, async (blob) => {
    const bytes = blob.bytes();
    await store.putBlob(blob.digest, Readable.from([bytes]), bytes.length);
  });
  const documents = await forEachLimit(
    hostedDocuments(shape, options.repository, options.linkedAt),
    options.concurrency,
    ([key, value]) => store.putMeta(key, value),
  );
  return { blobs, documents };
}

/** Writes distribution's filesystem layout under `rootDirectory` (its `storage.filesystem.rootdirectory`). */
export async function seedDistributionFiles(
  rootDirectory: string,
  shape: GcShape,
  options: { repository: string; concurrency: number },
): Promise<number> {
  const made = new Set<string>();
  return forEachLimit(distributionLayout(shape, options.repository), options.concurrency, async (entry) => {
    const file = join(rootDirectory, entry.path);
    const dir = dirname(file);
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    await writeFile(file, entry.content());
  });
}

/** Writes distribution's layout into `bucket` under `prefix` (its s3 driver's `rootdirectory`, without the slash). */
export async function seedDistributionS3(
  client: S3Client,
  shape: GcShape,
  options: { bucket: string; prefix: string; repository: string; concurrency: number },
): Promise<number> {
  return forEachLimit(distributionLayout(shape, options.repository), options.concurrency, async (entry) => {
    await client.send(
      new PutObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${entry.path}`, Body: entry.content() }),
    );
  });
}
