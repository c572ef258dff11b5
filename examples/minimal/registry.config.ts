// Minimal: one hosted repository on a file blob store, anonymous pull/push/delete on loopback.
// `127.0.0.1:5000/myorg/app` addresses image `myorg/app` of repository `private`.
import { defineConfig } from '../../schema/index.ts';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
});
