// Invalid on purpose: see test/compiler/invalid-examples.test.ts for the expected diagnostic.
import { defineConfig } from '../../../schema/index.ts';

export default defineConfig({
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
    { name: 'registry', type: 'group', members: ['privte'], anonymous: ['pull'] },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
});
