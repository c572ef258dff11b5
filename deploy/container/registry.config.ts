// The container image's default config (/config/registry.config.ts): one hosted repository on
// the /data volume, open to anonymous pull and push on port 5000, like a registry you try out.
// For anything else mount your own config over /config (or pass --config): see deploy/README.md.
import { defineConfig } from 'regctl-registry';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: '/data' }],
  repositories: [
    {
      name: 'private',
      type: 'hosted',
      blobStore: 'default',
      deploymentPolicy: 'allowRedeploy',
      anonymous: ['pull', 'push'],
    },
  ],
  listeners: [{ host: '0.0.0.0', port: 5000, repository: 'private' }],
});
