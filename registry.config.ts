// The embedded default: one hosted repository on a local folder, open to anonymous clients on
// loopback. `docker push 127.0.0.1:5000/myorg/app:1` stores image `myorg/app` in `private`.
import { defineConfig } from './schema/index.ts';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    {
      name: 'private',
      type: 'hosted',
      blobStore: 'default',
      deploymentPolicy: 'allowRedeploy',
      anonymous: ['pull', 'push', 'delete'],
    },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
});
