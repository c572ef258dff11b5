/**
 * Opens the blob stores a plan names. Drivers are a plain map from the plan's `driver` to a
 * factory (no self-registration, no module state); the S3 driver is imported on first use so a
 * filesystem-only deployment never loads the AWS SDK.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { BlobStorePlan, FileBlobStorePlan, Plan, S3BlobStorePlan } from '../../compiler/plan.ts';
import type { BlobStore } from './blob-store.ts';
import { createFileBlobStore } from './drivers/file/file.ts';

/** What every driver factory receives besides its plan. */
export interface BlobStoreOptions {
  /** Resolves the plan's secret references (S3 bucket, endpoint, keys). */
  readonly env: NodeJS.ProcessEnv;
  readonly log?: FastifyBaseLogger;
}

type DriverFactory<P extends BlobStorePlan> = (plan: P, options: BlobStoreOptions) => Promise<BlobStore>;

/** One factory per `BlobStorePlan['driver']`; the compiler guarantees no other value reaches here. */
const drivers = {
  file: (plan: FileBlobStorePlan, options: BlobStoreOptions) => createFileBlobStore(plan, { log: options.log }),
  s3: async (plan: S3BlobStorePlan, options: BlobStoreOptions) => {
    const { createS3BlobStore } = await import('./drivers/s3/s3.ts');
    return createS3BlobStore(plan, { env: options.env, log: options.log });
  },
} satisfies { [D in BlobStorePlan['driver']]: DriverFactory<Extract<BlobStorePlan, { driver: D }>> };

/**
 * Opens the store `plan` describes: creates its folders (file) or checks its bucket (s3), and
 * starts its housekeeping. Throws a `StorageError` when the store cannot be used; the caller
 * (runtime state) keeps the previous state serving then. Close the store with `close()`.
 */
export async function createBlobStore(plan: BlobStorePlan, options: BlobStoreOptions): Promise<BlobStore> {
  switch (plan.driver) {
    case 'file':
      return drivers.file(plan, options);
    case 's3':
      return drivers.s3(plan, options);
  }
}

/**
 * Opens every blob store of `plan` (for commands that work on the stores without serving:
 * `regctl gc`, `regctl usage`). On a failure the stores opened so far are closed. The file
 * driver's housekeeping (its upload sweep) runs at open, as it does for `serve`.
 */
export async function openPlanStores(plan: Plan, options: BlobStoreOptions): Promise<Map<string, BlobStore>> {
  const stores = new Map<string, BlobStore>();
  try {
    for (const [name, definition] of Object.entries(plan.blobStores))
      stores.set(name, await createBlobStore(definition, options));
  } catch (error) {
    for (const store of stores.values()) await store.close();
    throw error;
  }
  return stores;
}
