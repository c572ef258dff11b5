import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { describeBlobStore } from '../../suites/blob-store.ts';
import { describeHashedBlobWrites } from '../../suites/hashed-blob-writes.ts';
import { describeUploadLifecycle } from '../../suites/upload-lifecycle.ts';

const factory = async () => ({ store: createMemoryBlobStore(), cleanup: async () => {} });

describeBlobStore('memory', factory);
// The memory store keeps no temporaries: an unfinished write is only a local array.
describeHashedBlobWrites('memory', factory, { leftovers: async () => [] });

describeUploadLifecycle(
  'memory',
  async ({ uploadTimeoutMs, maxUploadBytes }) => {
    const store = createMemoryBlobStore({ uploadTimeoutMs, maxUploadBytes });
    return {
      store,
      budget: store.uploadBudget,
      sweep: async (now) => void (await store.sweep(now)),
      reopen: () => Promise.reject(new Error('a memory store cannot be opened again')),
      cleanup: async () => {},
    };
  },
  { persistent: false },
);
