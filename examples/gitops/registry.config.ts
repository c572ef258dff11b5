// GitOps: this file lives in a git repository; CI validates it and posts the plan diff on every
// pull request, and the running registry (which watches its checkout) reloads when it merges.
// Repositories are split into an imported module to show that edits to imports reload too.
import { defineConfig } from '../../schema/index.ts';
import { repositories } from './repositories.ts';

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories,
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'registry' }],
  security: {
    users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['developer'] }],
    roles: { developer: [{ repositories: ['private', 'registry'], actions: ['pull', 'push'] }] },
    token: { enabled: true, ttl: '5m' },
  },
});
