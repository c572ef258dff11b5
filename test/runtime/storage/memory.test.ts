import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { describeBlobStore } from '../../suites/blob-store.ts';
import { describeHashedBlobWrites } from '../../suites/hashed-blob-writes.ts';

const factory = async () => ({ store: createMemoryBlobStore(), cleanup: async () => {} });

describeBlobStore('memory', factory);
// The memory store keeps no temporaries: an unfinished write is only a local array.
describeHashedBlobWrites('memory', factory, { leftovers: async () => [] });
