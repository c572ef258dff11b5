// Invalid on purpose: see test/compiler/invalid-examples.test.ts for the expected diagnostic.
import { defineConfig } from '../../../schema/index.ts';

export default defineConfig({
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
    { name: 'hub', type: 'proxy', remote: { url: 'http://127.0.0.1:5070' }, metadataMaxAge: '24 hours' },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
});
