// Invalid on purpose: see test/compiler/invalid-examples.test.ts for the expected diagnostic.
import { defineConfig } from '../../../schema/index.ts';

export default defineConfig({
  repositories: [
    // @ts-expect-error: deliberate typo
    { name: 'private', type: 'hosted', anonymos: ['pull', 'push'] },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
});
