/**
 * A full S3 store, for real: a bucket quota on Ceph RGW (radosgw-admin). A write over it is
 * `STORAGE_FULL` naming the store (and saying it is a quota), leaves no visible blob, and what was
 * stored before still reads; once the quota is raised, writes succeed again without reopening.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../../../runtime/oci/digest.ts';
import { toRegistryError } from '../../../../runtime/repositories/storage-errors.ts';
import { createS3BlobStore, type S3BlobStore } from '../../../../runtime/storage/drivers/s3/s3.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';
import { type CephS3, s3StorePlan, startCeph } from '../../../helpers/ceph.ts';
import { testLog } from '../../../helpers/proxy-setup.ts';

const KiB = 1024;
const BUCKET = 'regctl-quota';
let ceph: CephS3;
let store: S3BlobStore | undefined;

beforeAll(async () => {
  ceph = await startCeph();
  const raw = new S3Client({
    region: ceph.region,
    endpoint: ceph.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
  });
  await raw.send(new CreateBucketCommand({ Bucket: BUCKET }));
  raw.destroy();
  await ceph.admin(['quota', 'set', '--quota-scope=bucket', `--bucket=${BUCKET}`, `--max-size=${256 * KiB}`]);
  await ceph.admin(['quota', 'enable', '--quota-scope=bucket', `--bucket=${BUCKET}`]);
  store = await createS3BlobStore(s3StorePlan({ name: 'bucket-store', bucket: BUCKET }), { env: ceph.env });
}, 180_000);

afterAll(async () => {
  await store?.close();
  await ceph?.stop();
});

describe('s3 store over its bucket quota (Ceph RGW)', () => {
  it('is STORAGE_FULL naming the store, keeps nothing of the write, and recovers when the quota grows', async () => {
    const small = randomBytes(64 * KiB);
    await store!.putBlob(digestOf(small), Readable.from([small]), small.length);
    const big = randomBytes(400 * KiB);
    const error = await store!.putBlob(digestOf(big), Readable.from([big]), big.length).catch((e: unknown) => e);
    expect(isStorageError(error, 'STORAGE_FULL')).toBe(true);
    expect(error).toMatchObject({ store: 'bucket-store', full: 'quota' });
    expect(await store!.stat(digestOf(big))).toBeUndefined();
    expect((await readAll(await store!.read(digestOf(small)))).equals(small)).toBe(true);
    const translated = toRegistryError(error, testLog(), 'putBlob');
    expect(translated.code).toBe('STORE_FULL');
    expect(translated.message).toBe(
      'blob store bucket-store is full: its bucket has reached its quota (or the S3 cluster has no room); raise the quota, free space, or delete images and run garbage collection; the push can be retried',
    );

    await ceph.admin(['quota', 'set', '--quota-scope=bucket', `--bucket=${BUCKET}`, `--max-size=${4096 * KiB}`]);
    await store!.putBlob(digestOf(big), Readable.from([big]), big.length);
    expect((await store!.stat(digestOf(big)))?.size).toBe(big.length);
  });
});
