import { defineConfig } from '../../../schema/index.ts';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [{ name: 'private', type: 'hosted', deploymentPolicy: 'disableRedeploy', anonymous: ['pull'] }],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
  security: {
    users: [
      { name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['developer'] },
      {
        name: 'admin',
        password: { bcrypt: '$2y$05$abcdefghijklmnopqrstuu5wW4c/1ce.2bKRWkGnNU1RjJ4nrm4bW' },
        roles: ['admin'],
      },
    ],
    roles: {
      developer: [{ repositories: ['private'], actions: ['pull', 'push'] }],
      admin: [{ repositories: ['*'], actions: ['pull', 'push', 'delete'] }],
    },
    token: { ttl: '15m', signingKey: { env: 'TOKEN_KEY' } },
  },
});
