import { defineConfig } from 'vitest/config';

/** Unit tests that need a real Ceph RADOS Gateway (started by test/helpers/ceph.ts). */
const CEPH_BACKED = [
  'test/runtime/storage/s3/conformance.test.ts',
  'test/runtime/storage/s3/contract.test.ts',
  'test/runtime/storage/s3/s3.test.ts',
  'test/runtime/storage/s3/quota.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'test/compiler/**/*.test.ts',
            'test/runtime/**/*.test.ts',
            'test/client/**/*.test.ts',
            'test/schema/**/*.test.ts',
            'test/cli/**/*.test.ts',
            'test/deploy/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          exclude: CEPH_BACKED,
          testTimeout: 30_000,
        },
      },
      {
        test: {
          // The storage drivers against real external servers: no client binaries, but a server to start.
          name: 'integration',
          include: CEPH_BACKED,
          testTimeout: 60_000,
          hookTimeout: 180_000,
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
