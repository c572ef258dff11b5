// A Nexus-style group on one port: pushes land in hosted `private`, pulls try `private` first and
// then the pull-through cache `upstream` of a registry on 127.0.0.1:5070.
import { defineConfig } from '../../schema/index.ts';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
    {
      name: 'upstream',
      type: 'proxy',
      remote: { url: 'http://127.0.0.1:5070', index: 'registry' },
      metadataMaxAge: '24h',
      negativeCacheTtl: '24h',
      anonymous: ['pull'],
    },
    {
      name: 'registry',
      type: 'group',
      members: ['private', 'upstream'],
      writableMember: 'private',
      anonymous: ['pull', 'push', 'delete'],
    },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'registry' }],
});
