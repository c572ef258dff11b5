import { describe, expect, it } from 'vitest';
import { checkConfig, compilePlan, computePlanId, type Plan } from '../../compiler/index.ts';
import type { ConfigInput } from '../../schema/index.ts';

function compile(input: ConfigInput): Plan {
  const checked = checkConfig(input);
  const errors = checked.diagnostics.filter((d) => d.severity === 'error');
  if (checked.config === null || errors.length > 0) throw new Error(JSON.stringify(checked.diagnostics));
  return compilePlan(checked.config, { configDir: '/etc/regctl' });
}

function errorsOf(input: unknown) {
  return checkConfig(input).diagnostics.filter((d) => d.severity === 'error');
}

const hosted = (name: string) => ({ name, type: 'hosted' as const, anonymous: ['pull' as const, 'push' as const] });

describe('compilePlan', () => {
  it('fills defaults, resolves paths and converts durations to milliseconds', () => {
    const plan = compile({
      blobStores: [{ name: 'default', type: 'file', path: 'data' }],
      repositories: [
        hosted('private'),
        { name: 'hub', type: 'proxy', remote: { url: 'https://registry-1.docker.io/' }, anonymous: ['pull'] },
      ],
      listeners: [{ port: 5000, repository: 'private', tls: { cert: 'tls/cert.pem', key: '/abs/key.pem' } }],
    });
    expect(plan.blobStores.default).toEqual({
      name: 'default',
      driver: 'file',
      path: '/etc/regctl/data',
      uploads: { timeoutMs: 3_600_000, maxBytes: null },
    });
    expect(plan.repositories.private).toEqual({
      name: 'private',
      type: 'hosted',
      online: true,
      blobStore: 'default',
      access: { anonymous: ['pull', 'push'] },
      deploymentPolicy: 'allowRedeploy',
    });
    expect(plan.repositories.hub).toMatchObject({
      remote: { url: 'https://registry-1.docker.io', index: 'docker-hub', auth: null, timeoutMs: 60_000 },
      metadataMaxAgeMs: 86_400_000,
      negativeCacheTtlMs: 86_400_000,
      offline: false,
      httpProxy: null,
    });
    expect(plan.listeners[0]).toMatchObject({
      id: '0.0.0.0:5000',
      tls: { certFile: '/etc/regctl/tls/cert.pem', keyFile: '/abs/key.pem' },
    });
    expect(plan.security.token).toEqual({
      enabled: true,
      issuer: 'regctl',
      service: 'regctl',
      ttlMs: 300_000,
      signingKey: null,
    });
  });

  it('uses the docker-hub index only for Docker Hub hosts unless told otherwise', () => {
    const plan = compile({
      repositories: [
        hosted('private'),
        { name: 'a', type: 'proxy', remote: { url: 'https://index.docker.io' } },
        { name: 'b', type: 'proxy', remote: { url: 'https://ghcr.io' } },
        { name: 'c', type: 'proxy', remote: { url: 'http://127.0.0.1:5070', index: 'docker-hub' } },
      ],
    });
    const index = (name: string) => (plan.repositories[name] as { remote: { index: string } }).remote.index;
    expect([index('a'), index('b'), index('c')]).toEqual(['docker-hub', 'registry', 'docker-hub']);
  });

  it('applies the global httpProxy unless a proxy overrides it or opts out with false', () => {
    const plan = compile({
      repositories: [
        hosted('private'),
        { name: 'a', type: 'proxy', remote: { url: 'https://a.example' } },
        { name: 'b', type: 'proxy', remote: { url: 'https://b.example' }, httpProxy: false },
        { name: 'c', type: 'proxy', remote: { url: 'https://c.example' }, httpProxy: { url: 'http://other:8080' } },
      ],
      httpProxy: { url: 'http://proxy:3128', noProxy: ['localhost'] },
    });
    const proxy = (name: string) => (plan.repositories[name] as { httpProxy: unknown }).httpProxy;
    expect(proxy('a')).toEqual({ url: 'http://proxy:3128', auth: null, noProxy: ['localhost'] });
    expect(proxy('b')).toBeNull();
    expect(proxy('c')).toEqual({ url: 'http://other:8080', auth: null, noProxy: [] });
  });

  it('flattens nested groups in order, dropping duplicates (first wins)', () => {
    const plan = compile({
      repositories: [
        hosted('h1'),
        hosted('h2'),
        { name: 'p', type: 'proxy', remote: { url: 'http://127.0.0.1:5070' } },
        { name: 'inner', type: 'group', members: ['h2', 'p'] },
        { name: 'outer', type: 'group', members: ['h1', 'inner', 'h2'], writableMember: 'h2' },
      ],
    });
    expect(plan.repositories.outer).toMatchObject({ members: ['h1', 'h2', 'p'], writableMember: 'h2' });
    expect(plan.repositories.inner).toMatchObject({ members: ['h2', 'p'], writableMember: null });
  });

  it('merges listeners on one address and sorts them by id', () => {
    const plan = compile({
      repositories: [hosted('a'), hosted('b')],
      listeners: [
        { host: '127.0.0.1', port: 6000, repository: 'b' },
        { host: '127.0.0.1', port: 5000, repository: 'a', virtualHosts: { 'A.example': 'a' } },
        { host: '127.0.0.1', port: 5000, paths: ['b'], mirrors: { 'Docker.io': 'b' } },
      ],
    });
    expect(plan.listeners.map((l) => l.id)).toEqual(['127.0.0.1:5000', '127.0.0.1:6000']);
    expect(plan.listeners[0]).toEqual({
      id: '127.0.0.1:5000',
      host: '127.0.0.1',
      port: 5000,
      tls: null,
      mirrors: { 'docker.io': 'b' },
      virtualHosts: { 'a.example': 'a' },
      paths: { b: 'b' },
      defaultRepository: 'a',
    });
  });

  it('resolves user permissions from roles and keeps secrets as references', () => {
    const plan = compile({
      repositories: [hosted('private')],
      security: {
        users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['dev', 'ops'] }],
        roles: {
          dev: [{ repositories: ['private'], actions: ['push', 'pull'] }],
          ops: [{ repositories: ['*'], actions: ['delete'] }],
        },
        token: { signingKey: { env: 'TOKEN_KEY' }, ttl: 600 },
      },
    });
    expect(plan.security.users[0]).toEqual({
      name: 'ci',
      password: { env: 'CI_PASSWORD' },
      roles: ['dev', 'ops'],
      permissions: [
        { repositories: ['private'], actions: ['pull', 'push'] },
        { repositories: ['*'], actions: ['delete'] },
      ],
    });
    expect(plan.security.token).toMatchObject({ ttlMs: 600_000, signingKey: { env: 'TOKEN_KEY' } });
  });

  it('returns a deeply frozen plan whose id is the hash of the rest', () => {
    const plan = compile({ repositories: [hosted('private')], listeners: [{ port: 5000, repository: 'private' }] });
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.repositories.private!.access.anonymous)).toBe(true);
    expect(Object.isFrozen(plan.listeners[0]!.paths)).toBe(true);
    expect(computePlanId(plan)).toBe(plan.id);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });
});

/** Deterministic pseudo-random generator so the property test is reproducible. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function shuffleKeys(value: unknown, next: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, next));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return Object.fromEntries(keys.map((k) => [k, shuffleKeys((value as Record<string, unknown>)[k], next)]));
}

describe('determinism', () => {
  const config: ConfigInput = {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      hosted('private'),
      {
        name: 'hub',
        type: 'proxy',
        remote: { url: 'https://registry-1.docker.io', auth: { username: 'u', password: { env: 'P' } } },
      },
      { name: 'registry', type: 'group', members: ['private', 'hub'], writableMember: 'private', anonymous: ['pull'] },
    ],
    listeners: [
      {
        host: '127.0.0.1',
        port: 5000,
        repository: 'registry',
        paths: ['hub'],
        virtualHosts: { 'x.test': 'hub', 'a.test': 'private' },
        mirrors: { 'docker.io': 'hub' },
      },
    ],
    security: {
      users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['dev'] }],
      roles: {
        dev: [{ repositories: ['private', 'registry'], actions: ['pull', 'push'] }],
        other: [{ repositories: ['*'], actions: ['pull'] }],
      },
    },
  };

  it('gives the same id whatever the key order (50 shuffles)', () => {
    const id = compile(config).id;
    const next = random(42);
    for (let i = 0; i < 50; i++) expect(compile(shuffleKeys(config, next) as ConfigInput).id).toBe(id);
  });

  it('gives a different id for a meaningful change', () => {
    const changed = { ...config, listeners: [{ ...config.listeners![0]!, port: 5001 }] };
    expect(compile(changed).id).not.toBe(compile(config).id);
  });
});

describe('semantic checks', () => {
  it('rejects dangling references and reports all of them at once', () => {
    const errors = errorsOf({
      repositories: [
        { name: 'g', type: 'group', members: ['nope', 'also-nope'], writableMember: 'missing', blobStore: 'gone' },
      ],
      listeners: [{ port: 5000, repository: 'absent', virtualHosts: { 'h.test': 'g' } }],
    });
    expect(errors.map((e) => [e.code, e.path.join('.')])).toEqual([
      ['unknown-blob-store', 'repositories.0.blobStore'],
      ['unknown-member', 'repositories.0.members.0'],
      ['unknown-member', 'repositories.0.members.1'],
      ['unknown-member', 'repositories.0.writableMember'],
      ['unknown-repository', 'listeners.0.repository'],
    ]);
  });

  it('rejects a group containing itself directly and through a longer cycle', () => {
    const self = errorsOf({ repositories: [{ name: 'g', type: 'group', members: ['g'] }] });
    expect(self).toMatchObject([{ code: 'group-cycle', message: 'group `g` cannot contain itself' }]);
    const long = errorsOf({
      repositories: [
        { name: 'a', type: 'group', members: ['b'] },
        { name: 'b', type: 'group', members: ['c'] },
        { name: 'c', type: 'group', members: ['a'] },
      ],
    });
    expect(long).toHaveLength(1);
    expect(long[0]).toMatchObject({ code: 'group-cycle', message: 'group cycle: a → b → c → a' });
  });

  it('accepts writableMember reached through a nested group', () => {
    const errors = errorsOf({
      repositories: [
        hosted('h'),
        { name: 'inner', type: 'group', members: ['h'] },
        { name: 'outer', type: 'group', members: ['inner'], writableMember: 'h' },
      ],
    });
    expect(errors).toEqual([]);
  });

  it('allows listeners on one address that only add routes, rejects conflicting TLS', () => {
    expect(
      errorsOf({
        repositories: [hosted('a'), hosted('b')],
        listeners: [
          { port: 5000, repository: 'a' },
          { port: 5000, virtualHosts: { 'b.test': 'b' } },
        ],
      }),
    ).toEqual([]);
    const tls = errorsOf({
      repositories: [hosted('a')],
      listeners: [
        { port: 5000, repository: 'a' },
        { port: 5000, repository: 'a', tls: { cert: 'c', key: 'k' } },
      ],
    });
    expect(tls).toMatchObject([{ code: 'listener-conflict', path: ['listeners', 1, 'tls'] }]);
  });

  it('warns about shadowing path prefixes, impossible pushes and write access on proxies', () => {
    const { diagnostics } = checkConfig({
      repositories: [
        { name: 'private', type: 'hosted' },
        { name: 'hub', type: 'proxy', remote: { url: 'http://127.0.0.1:5070' }, anonymous: ['pull', 'push'] },
      ],
      listeners: [{ port: 5000, repository: 'private', paths: ['hub'] }],
    });
    expect(diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    expect(diagnostics.map((d) => d.code).sort()).toEqual([
      'hosted-not-pushable',
      'path-shadows-images',
      'proxy-write-access',
    ]);
  });

  it('rejects a specific address sharing a port with a wildcard one, and malformed route keys', () => {
    const errors = errorsOf({
      repositories: [hosted('a')],
      listeners: [
        {
          host: '0.0.0.0',
          port: 5000,
          repository: 'a',
          mirrors: { 'docker io': 'a', 'r.example:5000': 'a' },
          virtualHosts: { h_x: 'a' },
        },
        { host: '127.0.0.1', port: 5000, repository: 'a' },
      ],
    });
    expect(errors.map((e) => [e.code, e.path])).toEqual([
      ['invalid-namespace', ['listeners', 0, 'mirrors', 'docker io']],
      ['invalid-virtual-host', ['listeners', 0, 'virtualHosts', 'h_x']],
      ['listener-overlap', ['listeners', 1, 'host']],
    ]);
  });

  it('catches remote URLs copied with the API path or the wrong Docker Hub host', () => {
    const { diagnostics } = checkConfig({
      repositories: [
        { name: 'a', type: 'proxy', remote: { url: 'https://registry.example.test/v2/' } },
        { name: 'b', type: 'proxy', remote: { url: 'https://hub.docker.com' } },
      ],
      listeners: [{ port: 5000, repository: 'a' }],
    });
    expect(diagnostics.map((d) => [d.severity, d.code, d.hint])).toEqual([
      ['error', 'invalid-url', 'use https://registry.example.test'],
      ['warning', 'docker-hub-url', 'use https://registry-1.docker.io'],
    ]);
  });

  it('takes http(s), socks5 and socks5h outbound proxies, and says what SOCKS speaks for anything else', () => {
    const proxy = (name: string, url: string) => ({
      name,
      type: 'proxy' as const,
      remote: { url: 'https://registry.example.test' },
      httpProxy: { url },
    });
    const { diagnostics } = checkConfig({
      httpProxy: { url: 'socks5h://127.0.0.1:1080' },
      repositories: [
        proxy('a', 'socks5://127.0.0.1:1080'),
        proxy('b', 'socks4://127.0.0.1:1080'),
        proxy('c', 'socks5h://127.0.0.1:1080/tunnel'),
        proxy('d', 'ftp://127.0.0.1:21'),
      ],
      listeners: [{ port: 5000, repository: 'a' }],
    });
    expect(diagnostics.map((d) => [d.code, d.path.join('.'), d.message, d.hint])).toEqual([
      [
        'invalid-url',
        'repositories.1.httpProxy.url',
        'the outbound proxy URL must use http, https, socks5 or socks5h, not socks4',
        'regctl speaks SOCKS version 5 only: socks5:// (regctl resolves host names) or socks5h:// (the proxy resolves them)',
      ],
      [
        'invalid-url',
        'repositories.2.httpProxy.url',
        'the outbound proxy URL must not have a path: a SOCKS proxy is a host and a port',
        undefined,
      ],
      [
        'invalid-url',
        'repositories.3.httpProxy.url',
        'the outbound proxy URL must use http, https, socks5 or socks5h, not ftp',
        undefined,
      ],
    ]);
  });

  it('warns that docker cannot push where Basic auth meets anonymous pull, and not with tokens', () => {
    const input = (token: boolean) => ({
      repositories: [{ name: 'shared', type: 'hosted' as const, anonymous: ['pull' as const] }],
      listeners: [{ port: 5000, repository: 'shared' }],
      security: {
        users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['publisher'] }],
        roles: { publisher: [{ repositories: ['shared'], actions: ['pull' as const, 'push' as const] }] },
        token: { enabled: token },
      },
    });
    const basic = checkConfig(input(false)).diagnostics;
    expect(basic.map((d) => [d.severity, d.code, d.path.join('.')])).toEqual([
      ['warning', 'basic-push-with-anonymous-pull', 'security.token.enabled'],
    ]);
    expect(basic[0]!.hint).toContain('security.token.enabled: true');
    expect(checkConfig(input(true)).diagnostics).toEqual([]);
  });

  it('accepts an empty config with defaults, warning that nothing is served', () => {
    const { config, diagnostics } = checkConfig({});
    expect(config?.blobStores).toEqual([{ name: 'default', type: 'file', path: './data' }]);
    expect(diagnostics).toMatchObject([{ code: 'no-listeners', severity: 'warning', path: ['listeners'] }]);
  });

  it('accepts a well-formed bcrypt hash', () => {
    const hash = '$2y$05$abcdefghijklmnopqrstuu5wW4c/1ce.2bKRWkGnNU1RjJ4nrm4bW';
    expect(hash.length).toBe(60);
    const errors = errorsOf({
      repositories: [hosted('private')],
      security: { users: [{ name: 'u', password: { bcrypt: hash }, roles: [] }] },
    });
    expect(errors).toEqual([]);
  });

  it('rejects a bcrypt hash the runtime would refuse ($2x$, a cost outside 04-31)', () => {
    for (const hash of [`$2x$05$${'a'.repeat(53)}`, `$2b$99$${'a'.repeat(53)}`]) {
      const errors = errorsOf({
        repositories: [hosted('private')],
        security: { users: [{ name: 'u', password: { bcrypt: hash }, roles: [] }] },
      });
      expect(errors).toMatchObject([{ code: 'invalid-bcrypt', path: ['security', 'users', 0, 'password', 'bcrypt'] }]);
    }
  });
});
