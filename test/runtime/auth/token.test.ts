import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseScopes } from '../../../runtime/auth/token.ts';
import {
  ALICE_PASSWORD,
  BOB_PASSWORD,
  basic,
  CAROL_PASSWORD,
  createTestController,
  rejection,
  request,
  resolveRepository,
  SIGNING_KEY,
} from './fixtures.ts';

afterEach(() => vi.useRealTimers());

describe('parseScopes', () => {
  it('reads repeated and space-separated scopes, `*`, resource classes, and skips junk', () => {
    expect(
      parseScopes([
        'repository:library/alpine:pull,push',
        'repository:a/b:pull repository(plugin):c:delete',
        'repository:d:*',
        'registry:catalog:*',
        'garbage',
        'repository::pull',
        'repository:e:fly',
      ]),
    ).toEqual([
      { type: 'repository', name: 'library/alpine', actions: ['pull', 'push'] },
      { type: 'repository', name: 'a/b', actions: ['pull'] },
      { type: 'repository', name: 'c', actions: ['delete'] },
      { type: 'repository', name: 'd', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'e', actions: [] },
    ]);
  });
});

describe('issueToken', () => {
  it('signs an HS256 JWT with iss, sub, aud, iat, exp = iat + ttl and access, and nothing else', async () => {
    const { access } = await createTestController({ ttlMs: 120_000 });
    const response = await access.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { service: 'regctl-test', scope: ['repository:team/app:pull,push'], account: 'alice' },
      resolveRepository,
    );
    expect(response.token).toBe(response.access_token);
    expect(response.expires_in).toBe(120);
    const claims = decodeJwt(response.token);
    expect(claims).toMatchObject({
      iss: 'regctl',
      sub: 'alice',
      aud: 'regctl-test',
      access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    });
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(Object.keys(claims).sort()).toEqual(['access', 'aud', 'exp', 'iat', 'iss', 'sub']);
    expect(decodeProtectedHeader(response.token)).toEqual({ alg: 'HS256' });
    expect(new Date(response.issued_at).getTime()).toBe(claims.iat! * 1000);
  });

  it('grants the intersection of the requested and the allowed actions, per scope', async () => {
    const { access } = await createTestController();
    const response = await access.issueToken(
      request(basic('bob', BOB_PASSWORD)),
      {
        scope: [
          'repository:docker-hub/library/alpine:pull,push',
          'repository:team/app:pull',
          'repository:unrouted/x:pull',
        ],
      },
      resolveRepository,
    );
    expect(decodeJwt(response.token).access).toEqual([
      { type: 'repository', name: 'docker-hub/library/alpine', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: [] },
      { type: 'repository', name: 'unrouted/x', actions: [] },
    ]);
  });

  it('issues anonymous tokens with what anonymous may do, and no subject', async () => {
    const { access } = await createTestController();
    const response = await access.issueToken(
      request(),
      { scope: ['repository:docker-hub/library/alpine:pull,push', 'repository:team/app:pull'] },
      resolveRepository,
    );
    const claims = decodeJwt(response.token);
    expect(claims.sub).toBeUndefined();
    expect(claims.access).toEqual([
      { type: 'repository', name: 'docker-hub/library/alpine', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: [] },
    ]);
  });

  it('refuses wrong credentials with a Basic challenge, a foreign service or account with DENIED', async () => {
    const { access } = await createTestController();
    const wrong = await rejection(access.issueToken(request(basic('alice', 'nope')), {}, resolveRepository));
    expect(wrong.code).toBe('UNAUTHORIZED');
    expect(wrong.headers['WWW-Authenticate']).toBe('Basic realm="regctl test",charset="UTF-8"');
    const service = await rejection(
      access.issueToken(request(basic('alice', ALICE_PASSWORD)), { service: 'other' }, resolveRepository),
    );
    expect(service.code).toBe('DENIED');
    const account = await rejection(
      access.issueToken(request(basic('alice', ALICE_PASSWORD)), { account: 'carol' }, resolveRepository),
    );
    expect(account.code).toBe('DENIED');
  });

  it('is UNSUPPORTED when tokens are disabled', async () => {
    const { access } = await createTestController({ tokenEnabled: false });
    expect((await rejection(access.issueToken(request(), {}, resolveRepository))).code).toBe('UNSUPPORTED');
  });
});

describe('authorize with Bearer tokens', () => {
  it('accepts a token for the scope name it grants, as its subject', async () => {
    const { access } = await createTestController();
    const { token } = await access.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull,push'] },
      resolveRepository,
    );
    const bearer = request(`Bearer ${token}`);
    const scope = { name: 'team/app', repository: 'registry', actions: ['pull', 'push'] as ('pull' | 'push')[] };
    await expect(access.authorize(bearer, scope)).resolves.toEqual({ user: 'alice' });
    await expect(access.authorize(bearer, { base: true, repositories: ['registry'] })).resolves.toEqual({
      user: 'alice',
    });
  });

  it('asks for a wider token (insufficient_scope) for another name or action the user holds', async () => {
    const { access } = await createTestController();
    const { token } = await access.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull'] },
      resolveRepository,
    );
    const bearer = request(`Bearer ${token}`);
    const other = await rejection(
      access.authorize(bearer, { name: 'team/other', repository: 'registry', actions: ['pull'] }),
    );
    expect(other.code).toBe('UNAUTHORIZED');
    expect(other.headers['WWW-Authenticate']).toBe(
      'Bearer realm="http://127.0.0.1:5000/-/token",service="regctl-test",scope="repository:team/other:pull",error="insufficient_scope"',
    );
    const wider = await rejection(
      access.authorize(bearer, { name: 'team/app', repository: 'registry', actions: ['pull', 'push'] }),
    );
    expect(wider.code).toBe('UNAUTHORIZED');
  });

  it('denies with 403 when the token subject lacks the permission altogether', async () => {
    const { access } = await createTestController();
    const { token } = await access.issueToken(
      request(basic('bob', BOB_PASSWORD)),
      { scope: ['repository:docker-hub/x:pull,push'] },
      resolveRepository,
    );
    const denied = await rejection(
      access.authorize(request(`Bearer ${token}`), {
        name: 'docker-hub/x',
        repository: 'docker-hub',
        actions: ['push'],
      }),
    );
    expect(denied.code).toBe('DENIED');
  });

  it('refuses an expired token with invalid_token', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const { access } = await createTestController({ ttlMs: 60_000 });
    const { token } = await access.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull'] },
      resolveRepository,
    );
    const scope = { name: 'team/app', repository: 'registry', actions: ['pull' as const] };
    await expect(access.authorize(request(`Bearer ${token}`), scope)).resolves.toEqual({ user: 'alice' });
    vi.setSystemTime(new Date('2026-01-01T00:01:05Z')); // past exp, inside the 10 s clock tolerance
    await expect(access.authorize(request(`Bearer ${token}`), scope)).resolves.toEqual({ user: 'alice' });
    vi.setSystemTime(new Date('2026-01-01T00:01:11Z'));
    const expired = await rejection(access.authorize(request(`Bearer ${token}`), scope));
    expect(expired.code).toBe('UNAUTHORIZED');
    expect(expired.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('refuses forged tokens: another key, a tampered payload, alg none, another audience', async () => {
    const { access } = await createTestController({ signingKey: 'TOKEN_KEY' });
    const scope = { name: 'team/app', repository: 'registry', actions: ['pull' as const] };
    const claims = { access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] };
    const now = Math.floor(Date.now() / 1000);
    const build = () =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('regctl')
        .setAudience('regctl-test')
        .setSubject('alice')
        .setIssuedAt(now)
        .setExpirationTime(now + 60);
    const otherKey = await build().sign(randomBytes(32));
    const genuine = await build().sign(new TextEncoder().encode(SIGNING_KEY));
    await expect(access.authorize(request(`Bearer ${genuine}`), scope)).resolves.toEqual({ user: 'alice' });
    const [header, payload, signature] = genuine.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(genuine), sub: 'carol' })).toString('base64url')}.${signature}`;
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    const audience = await build().setAudience('elsewhere').sign(new TextEncoder().encode(SIGNING_KEY));
    for (const forged of [otherKey, tampered, none, audience, 'a.b.c']) {
      const error = await rejection(access.authorize(request(`Bearer ${forged}`), scope));
      expect(error.code).toBe('UNAUTHORIZED');
      expect(error.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    }
  });

  it('verifies tokens across controllers sharing a signing key, re-checking current permissions', async () => {
    const { access: before } = await createTestController({ signingKey: 'TOKEN_KEY' });
    const { token } = await before.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull,push'] },
      resolveRepository,
    );
    // After a reload that took push away from alice, the still-valid token no longer pushes.
    const { access: after } = await createTestController({
      signingKey: 'TOKEN_KEY',
      alicePermissions: [{ repositories: ['registry'], actions: ['pull'] }],
    });
    const scope = { name: 'team/app', repository: 'registry' };
    await expect(after.authorize(request(`Bearer ${token}`), { ...scope, actions: ['pull'] })).resolves.toEqual({
      user: 'alice',
    });
    expect((await rejection(after.authorize(request(`Bearer ${token}`), { ...scope, actions: ['push'] }))).code).toBe(
      'DENIED',
    );
    // A per-process random key: another controller rejects the token.
    const { access: random } = await createTestController();
    expect((await rejection(random.authorize(request(`Bearer ${token}`), { ...scope, actions: ['pull'] }))).code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('lets anonymous tokens do what anonymous may, and nothing more', async () => {
    const { access } = await createTestController();
    const { token } = await access.issueToken(
      request(),
      { scope: ['repository:docker-hub/x:pull'] },
      resolveRepository,
    );
    const bearer = request(`Bearer ${token}`);
    await expect(
      access.authorize(bearer, { name: 'docker-hub/x', repository: 'docker-hub', actions: ['pull'] }),
    ).resolves.toEqual({ user: null });
    expect(
      (await rejection(access.authorize(bearer, { name: 'team/app', repository: 'registry', actions: ['pull'] }))).code,
    ).toBe('UNAUTHORIZED');
    expect((await rejection(access.authorize(bearer, { base: true, repositories: ['registry'] }))).code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('refuses Bearer tokens when tokens are disabled, with a Basic challenge', async () => {
    const { access: enabled } = await createTestController();
    const { token } = await enabled.issueToken(request(basic('carol', CAROL_PASSWORD)), {}, resolveRepository);
    const { access: disabled } = await createTestController({ tokenEnabled: false });
    const error = await rejection(disabled.authorize(request(`Bearer ${token}`), { base: true, repositories: [] }));
    expect(error.headers['WWW-Authenticate']).toMatch(/^Basic /);
  });
});

describe('TokenService.verifyCached', () => {
  it('answers only once a verification concluded, and never for an expired token', async () => {
    const { TokenService } = await import('../../../runtime/auth/token.ts');
    const { captureLog } = await import('./fixtures.ts');
    let now = Date.parse('2026-01-01T00:00:00Z');
    const service = new TokenService(
      { enabled: true, issuer: 'regctl', service: 'registry', ttlMs: 60_000, signingKey: null },
      { env: {}, log: captureLog().log, now: () => now },
    );
    const { token } = await service.sign('alice', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect(service.verifyCached(token)).toBeUndefined();
    const pending = service.verify(token);
    expect(service.verifyCached(token)).toBeUndefined();
    expect((await pending).ok).toBe(true);
    const cached = service.verifyCached(token);
    expect(cached?.ok && cached.token.subject).toBe('alice');
    expect(cached?.ok && [...(cached.token.access.get('team/app') ?? [])]).toEqual(['pull']);
    now += 71_000; // past exp and the 10 s clock tolerance
    expect(service.verifyCached(token)).toBeUndefined();
    expect((await service.verify(token)).ok).toBe(false);
    expect(service.verifyCached(token)).toMatchObject({ ok: false });
    expect(service.verifyCached(`${token}x`)).toBeUndefined();
  });

  it('answers only for the very token verified: another signed part with its signature is checked afresh', async () => {
    const { TokenService } = await import('../../../runtime/auth/token.ts');
    const { captureLog } = await import('./fixtures.ts');
    const service = new TokenService(
      { enabled: true, issuer: 'regctl', service: 'registry', ttlMs: 60_000, signingKey: null },
      { env: {}, log: captureLog().log },
    );
    const { token } = await service.sign('alice', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect((await service.verify(token)).ok).toBe(true);
    const [header, payload, signature] = token.split('.');
    const claims = { ...decodeJwt(token), sub: 'carol' };
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const trimmed = `${header}.${payload!.slice(1)}.${signature}`;
    for (const forged of [tampered, trimmed, signature!]) {
      expect(service.verifyCached(forged!)).toBeUndefined();
      expect(await service.verify(forged!)).toMatchObject({ ok: false });
      expect(service.verifyCached(forged!)).toMatchObject({ ok: false });
    }
    // The forgeries took the genuine token's cache slot, never its verdict: it verifies again, and passes.
    expect(service.verifyCached(token)).toBeUndefined();
    const again = await service.verify(token);
    expect(again.ok && again.token.subject).toBe('alice');
    expect(service.verifyCached(token)).toBe(again);
  });
});
