/**
 * Small whole-object operations shared by the s3 store's parts: documents, tails and existence
 * checks. Every failure is a `StorageError` (see ./s3-client.ts for the translation).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isNotFound, type S3Connection, toStorageError, unquoteEtag } from './client.ts';

/** A small object's bytes and ETag (unquoted), or undefined when it does not exist. */
export async function getSmallObject(
  s3: S3Connection,
  key: string,
): Promise<{ body: Buffer; etag: string | undefined } | undefined> {
  try {
    const result = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return { body: Buffer.from(await result.Body!.transformToByteArray()), etag: unquoteEtag(result.ETag) };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw toStorageError(error, `read ${key}`);
  }
}

/** One PUT of a small body (≤ one part). */
export async function putSmallObject(s3: S3Connection, key: string, body: Buffer | string): Promise<void> {
  try {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  } catch (error) {
    throw toStorageError(error, `write ${key}`);
  }
}

export async function objectExists(s3: S3Connection, key: string): Promise<boolean> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw toStorageError(error, `head ${key}`);
  }
}

/** Best-effort delete for cleanup paths: what is left behind is found again by the upload sweep. */
export async function deleteQuietly(s3: S3Connection, key: string): Promise<void> {
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key })).catch(() => undefined);
}
