import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { describeBlobStore } from '../../suites/blob-store.ts';

describeBlobStore('memory', async () => ({ store: createMemoryBlobStore(), cleanup: async () => {} }));
