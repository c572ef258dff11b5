/**
 * The regctl configs the end-to-end tests serve: one hosted repository on a file store in the
 * test's temp dir, open to anonymous clients, or behind forced authentication with one user.
 */
import type { TestConfig } from './regctl-server.ts';

/** Anonymous pull/push/delete on hosted repository `private`, the listener's default repository. */
export function openHostedConfig(): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: ['pull', 'push', 'delete'] },
    ],
    listeners: [{ host: '127.0.0.1', repository: 'private' }],
  };
}

/** The user of {@link securedHostedConfig}: password from env `CI_PASSWORD`. */
export const TEST_USER = { name: 'ci', password: 'ci-secret-password' } as const;

/**
 * Forced authentication on hosted repository `private`: user `ci` (role developer: pull, push,
 * delete), token endpoint enabled. Serve it with `env: { CI_PASSWORD: TEST_USER.password }`.
 */
export function securedHostedConfig(): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [{ name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: [] }],
    listeners: [{ host: '127.0.0.1', repository: 'private' }],
    security: {
      users: [{ name: TEST_USER.name, password: { env: 'CI_PASSWORD' }, roles: ['developer'] }],
      roles: { developer: [{ repositories: ['private'], actions: ['pull', 'push', 'delete'] }] },
      token: { enabled: true, ttl: '5m' },
    },
  };
}
