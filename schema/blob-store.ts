/**
 * Blob store schemas: where blobs and repository metadata live. `file` is a local folder (its path
 * is relative to the config file), `s3` any S3-compatible bucket (AWS, MinIO, Ceph RGW).
 */
import { z } from 'zod';
import { NameSchema, positiveDuration, positiveSize, SizeSchema } from './primitives.ts';
import { SecretRefSchema, StringOrSecretSchema } from './secret.ts';

/**
 * How long an upload session may go without activity (its start, or bytes of an append arriving)
 * before it is abandoned and deleted. The top-level `uploadTimeout` is every store's default.
 */
export const UploadTimeoutSchema = positiveDuration(
  "give a duration longer than 0, such as '1h' (the default) or '6h' for very slow links",
).describe(
  'How long an upload may go without receiving bytes before it is abandoned and deleted, e.g. "1h"; a slow upload that keeps sending is never cut off',
);

/** The fields every blob store type has for its upload sessions. */
const uploadFields = {
  uploadTimeout: UploadTimeoutSchema.optional().describe(
    "This store's upload timeout; default: the top-level uploadTimeout ('1h')",
  ),
  maxUploadBytes: positiveSize("give a size such as '20GiB', or leave maxUploadBytes out for no cap")
    .optional()
    .describe(
      'Cap on the total bytes of uploads in progress on this store; an append that would pass it is refused (429, retryable). Absent: no cap',
    ),
};

/** A folder on the local filesystem. */
export const FileBlobStoreSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('file'),
  path: z.string().min(1).describe('Folder holding the blobs; relative paths are resolved against the config file'),
  ...uploadFields,
});

/** An S3-compatible bucket. */
export const S3BlobStoreSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('s3'),
  bucket: StringOrSecretSchema.describe('Bucket name, literal or { env }'),
  prefix: z.string().default('').describe('Key prefix inside the bucket'),
  region: z.string().min(1).default('us-east-1'),
  endpoint: StringOrSecretSchema.optional().describe('Endpoint URL of an S3-compatible server; omit for AWS'),
  forcePathStyle: z.boolean().default(false).describe('Path-style addressing (MinIO, Ceph RGW)'),
  credentials: z
    .strictObject({ accessKeyId: SecretRefSchema, secretAccessKey: SecretRefSchema })
    .optional()
    .describe("Static keys from the environment; omit to use the AWS SDK's default credential chain"),
  redirect: z.boolean().default(false).describe('Answer blob GETs with a redirect to a presigned URL'),
  partSize: SizeSchema.default('16MiB').describe('Multipart upload part size'),
  ...uploadFields,
});

/** Any blob store, discriminated on `type`. */
export const BlobStoreSchema = z.discriminatedUnion('type', [FileBlobStoreSchema, S3BlobStoreSchema]);

export type BlobStoreInput = z.input<typeof BlobStoreSchema>;
export type BlobStoreConfig = z.output<typeof BlobStoreSchema>;
