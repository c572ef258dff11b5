import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'test/compiler/**/*.test.ts',
            'test/runtime/**/*.test.ts',
            'test/schema/**/*.test.ts',
            'test/cli/**/*.test.ts',
          ],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Real servers and clients on loopback: one file at a time keeps ports and CPU predictable.
          fileParallelism: false,
        },
      },
    ],
  },
});
