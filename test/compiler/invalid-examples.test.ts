import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../compiler/index.ts';

const root = join(import.meta.dirname, '..', '..');

/** Each invalid example and the one error it must produce: code, rendered path, message. */
const EXPECTED: Record<string, { code: string; path: (string | number)[]; message: string; hint?: string }> = {
  'duplicate-mirror': {
    code: 'duplicate-mirror',
    path: ['listeners', 0, 'mirrors', 'Docker.IO'],
    message: 'mirror namespace `docker.io` is listed twice (names are case-insensitive)',
  },
  'duplicate-name': {
    code: 'duplicate-name',
    path: ['repositories', 1, 'name'],
    message: 'duplicate repository name `private`',
    hint: 'first defined at repositories[0]',
  },
  'group-cycle': {
    code: 'group-cycle',
    path: ['repositories', 1, 'members', 1],
    message: 'group cycle: a → b → a',
    hint: 'a group may not contain itself through other groups',
  },
  'invalid-bcrypt': {
    code: 'invalid-bcrypt',
    path: ['security', 'users', 0, 'password', 'bcrypt'],
    message: 'not a bcrypt hash ($2a$/$2b$/$2y$, cost, 53 characters)',
    hint: 'generate one with `htpasswd -nbB user password`',
  },
  'invalid-duration': {
    code: 'invalid-format',
    path: ['repositories', 1, 'metadataMaxAge'],
    message: 'expected a duration such as "30s", "15m", "24h" or "7d"',
    hint: "write a number and a unit (ms, s, m, h, d), e.g. '90s', '30m', '1h', or a number of seconds",
  },
  'invalid-env-name': {
    code: 'invalid-env-name',
    path: ['repositories', 1, 'remote', 'auth', 'password', 'env'],
    message: '`hub-password` is not a valid environment variable name ([A-Z_][A-Z0-9_]*)',
    hint: 'did you mean `HUB_PASSWORD`?',
  },
  'invalid-port': {
    code: 'invalid-port',
    path: ['listeners', 0, 'port'],
    message: 'port 70000 is out of range 1-65535',
  },
  'invalid-proxy-index': {
    code: 'invalid-value',
    path: ['repositories', 1, 'remote', 'index'],
    message: 'the string "dockerhub" is not one of "docker-hub", "registry"',
    hint: 'did you mean `docker-hub`?',
  },
  'invalid-repository-name': {
    code: 'invalid-name',
    path: ['repositories', 1, 'name'],
    message: '`My_Repo` is not a valid repository name: use lowercase letters, digits and single separators (. _ __ -)',
    hint: 'did you mean `my_repo`?',
  },
  'listener-conflict': {
    code: 'listener-conflict',
    path: ['listeners', 1, 'repository'],
    message: 'default repository on 127.0.0.1:5000 routes to `other` here and to `private` at listeners[0]',
  },
  'missing-port': { code: 'missing-field', path: ['listeners', 0, 'port'], message: 'missing required field `port`' },
  'plaintext-password': {
    code: 'plaintext-secret',
    path: ['security', 'users', 0, 'password'],
    message: '`password` takes { env: NAME } or { bcrypt: HASH }, not a value written in the config (not shown)',
    hint: "use { bcrypt: '$2b$…' } (`regctl passwd` or htpasswd -nbB user pass) or { env: 'NAME' }",
  },
  'relative-remote-url': {
    code: 'invalid-url',
    path: ['repositories', 1, 'remote', 'url'],
    message: 'the remote URL `registry.example.test` has no scheme',
    hint: 'add https://: https://registry.example.test (or http:// for a plain-HTTP server)',
  },
  'reserved-name': {
    code: 'reserved-name',
    path: ['repositories', 1, 'name'],
    message: '`v2` is reserved and cannot name a repository',
  },
  'unknown-blob-store': {
    code: 'unknown-blob-store',
    path: ['repositories', 0, 'blobStore'],
    message: 'unknown blob store `defualt`',
    hint: 'did you mean `default`?',
  },
  'unknown-field': {
    code: 'unknown-field',
    path: ['repositories', 0, 'anonymos'],
    message: 'unknown field `anonymos`',
    hint: 'did you mean `anonymous`?',
  },
  'unknown-listener-repository': {
    code: 'unknown-repository',
    path: ['listeners', 0, 'repository'],
    message: 'unknown repository `privat`',
    hint: 'did you mean `private`?',
  },
  'unknown-member': {
    code: 'unknown-member',
    path: ['repositories', 1, 'members', 0],
    message: 'unknown repository `privte`',
    hint: 'did you mean `private`?',
  },
  'unknown-repository-type': {
    code: 'invalid-value',
    path: ['repositories', 0, 'type'],
    message: 'unknown type "hostd": expected one of "hosted", "proxy", "group"',
    hint: 'did you mean `hosted`?',
  },
  'unknown-role': {
    code: 'unknown-role',
    path: ['security', 'users', 0, 'roles', 0],
    message: 'unknown role `developper`',
    hint: 'did you mean `developer`?',
  },
  'url-credentials': {
    code: 'url-credentials',
    path: ['repositories', 1, 'remote', 'url'],
    message: 'the remote URL must not contain credentials (not shown)',
    hint: 'move the credentials to `auth`, with the password as { env: NAME }',
  },
  'writable-member-not-hosted': {
    code: 'writable-member-not-hosted',
    path: ['repositories', 2, 'writableMember'],
    message: 'writable member `upstream` is a proxy repository; it must be hosted',
  },
  'writable-member-not-member': {
    code: 'writable-member-not-member',
    path: ['repositories', 2, 'writableMember'],
    message: 'writable member `other` is not a member of group `registry`',
    hint: 'add it to members',
  },
};

describe('invalid examples', () => {
  const cases = readdirSync(join(root, 'examples', 'invalid'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);

  it('every invalid example has an expectation, and every expectation an example', () => {
    expect(cases.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(cases)('%s is rejected with its exact diagnostic', async (name) => {
    const configPath = join(root, 'examples', 'invalid', name, 'registry.config.ts');
    const result = await buildPlan({ configPath });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.stage).toBe('check');
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    const expected = EXPECTED[name]!;
    expect(errors[0]).toMatchObject({
      code: expected.code,
      path: expected.path,
      message: expected.message,
      file: configPath,
    });
    // The hint is exact too: a case without one in the table must produce none.
    expect(errors[0]!.hint).toBe(expected.hint);
    // TS configs are located too (best effort): every case here points inside the file.
    expect(errors[0]!.line).toBeGreaterThan(3);
    expect(errors[0]!.column).toBeGreaterThan(1);
  });
});
