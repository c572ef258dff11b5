/**
 * The shared BlobStore conformance suite (test/suites/blob-store.ts) and the upload lifecycle
 * suite (test/suites/upload-lifecycle.ts), the same cases the memory and file stores pass, run on the s3 driver against a real Ceph RADOS Gateway started for this
 * file (test/helpers/ceph.ts; or the server named by REGCTL_TEST_S3_*).
 *
 * Every fixture is a store with its own random prefix in the shared bucket, so the cases never
 * see each other's blobs, sessions or metadata; `cleanup` removes what a case left under it.
 */
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { createS3Connection, type S3Connection } from '../../../../runtime/storage/drivers/s3/client.ts';
import { createS3BlobStore } from '../../../../runtime/storage/drivers/s3/s3.ts';
import { type CephS3, s3StorePlan, startCeph } from '../../../helpers/ceph.ts';
import { describeBlobStore } from '../../../suites/blob-store.ts';
import { describeUploadLifecycle } from '../../../suites/upload-lifecycle.ts';

let ceph: CephS3;
let admin: S3Connection;

beforeAll(async () => {
  ceph = await startCeph();
  admin = createS3Connection(s3StorePlan(), { env: ceph.env });
}, 180_000);

afterAll(async () => {
  admin?.destroy();
  await ceph?.stop();
}, 60_000);

/** Deletes every object under `prefix/` (a page of at most 1000 keys at a time, bounded). */
async function removePrefix(prefix: string): Promise<void> {
  for (let page = 0; page < 100; page++) {
    const listed = await admin.client.send(new ListObjectsV2Command({ Bucket: admin.bucket, Prefix: `${prefix}/` }));
    const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (keys.length === 0) return;
    await admin.client.send(new DeleteObjectsCommand({ Bucket: admin.bucket, Delete: { Objects: keys } }));
  }
}

describeBlobStore('s3', async () => {
  const plan = s3StorePlan();
  const store = await createS3BlobStore(plan, { env: ceph.env, sweepIntervalMs: 0 });
  return { store, cleanup: () => removePrefix(plan.prefix) };
});

describeUploadLifecycle(
  's3',
  async ({ uploadTimeoutMs, maxUploadBytes }) => {
    const plan = s3StorePlan({ uploads: { timeoutMs: uploadTimeoutMs, maxBytes: maxUploadBytes } });
    let store = await createS3BlobStore(plan, { env: ceph.env, sweepIntervalMs: 0 });
    return {
      get store() {
        return store;
      },
      get budget() {
        return store.uploadBudget;
      },
      sweep: async (now) => void (await store.sweepUploads(now)),
      reopen: async () => {
        await store.close();
        store = await createS3BlobStore(plan, { env: ceph.env, sweepIntervalMs: 0 });
        return { store, budget: store.uploadBudget };
      },
      cleanup: () => removePrefix(plan.prefix),
    };
  },
  { persistent: true },
);
