/**
 * The controller's per-connection memo: a keep-alive connection that re-sends the credentials it
 * was verified with is answered without the credential cache's keyed hash, and nothing else is.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CredentialCache } from '../../../runtime/auth/credential-cache.ts';
import {
  ALICE_PASSWORD,
  BOB_PASSWORD,
  basic,
  createTestController,
  rejection,
  request,
  resolveRepository,
} from './fixtures.ts';

afterEach(() => vi.restoreAllMocks());

const pullPrivate = { name: 'team/app', repository: 'private', actions: ['pull' as const] };
const pullDockerHub = { name: 'docker-hub/library/alpine', repository: 'docker-hub', actions: ['pull' as const] };

/** A token for alice granting pull on `team/app` (routed to `private` by resolveRepository). */
async function aliceToken(access: Awaited<ReturnType<typeof createTestController>>['access']): Promise<string> {
  const response = await access.issueToken(
    request(basic('alice', ALICE_PASSWORD)),
    { scope: ['repository:team/app:pull'] },
    resolveRepository,
  );
  return response.token;
}

/** `value` with its last character replaced by another one of the same alphabet. */
function lastCharChanged(value: string): string {
  return value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
}

/**
 * The token with the first character of its signature changed. Not the last one: the last
 * base64url character of a 32-byte signature carries 4 bits and 2 padding bits, so some changes
 * to it decode to the same signature (a valid token, and a test that fails 1 run in 16).
 */
function signatureChanged(token: string): string {
  const at = token.lastIndexOf('.') + 1;
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
}

describe('authorize: per-connection memo', () => {
  it('answers the repeated credentials of a connection without hashing them again', async () => {
    const { access } = await createTestController();
    const keyOf = vi.spyOn(CredentialCache.prototype, 'keyOf');
    const token = await aliceToken(access);
    const connection = {};
    for (const header of [basic('alice', ALICE_PASSWORD), `Bearer ${token}`]) {
      await access.authorize(request(header, undefined, connection), pullPrivate);
      keyOf.mockClear();
      for (let i = 0; i < 5; i++) {
        await expect(access.authorize(request(header, undefined, connection), pullPrivate)).resolves.toEqual({
          user: 'alice',
        });
      }
      expect(keyOf).not.toHaveBeenCalled();
      // Another connection with the same credentials goes through the cache (one hash), then has its own memo.
      const other = {};
      await access.authorize(request(header, undefined, other), pullPrivate);
      await access.authorize(request(header, undefined, other), pullPrivate);
      expect(keyOf).toHaveBeenCalledTimes(1);
      keyOf.mockClear();
    }
  });

  it('checks other credentials on the same connection anew: a changed last character is refused', async () => {
    const { access } = await createTestController();
    const connection = {};
    const alice = basic('alice', ALICE_PASSWORD);
    await access.authorize(request(alice, undefined, connection), pullPrivate);
    // Same length, same user, one character of the password different.
    const wrong = basic('alice', lastCharChanged(ALICE_PASSWORD));
    expect(wrong).toHaveLength(alice.length);
    expect((await rejection(access.authorize(request(wrong, undefined, connection), pullPrivate))).code).toBe(
      'UNAUTHORIZED',
    );
    // Another user on the connection (a proxy pooling connections) is that user, not the last one.
    await expect(
      access.authorize(request(basic('bob', BOB_PASSWORD), undefined, connection), pullDockerHub),
    ).resolves.toEqual({ user: 'bob' });
    expect(
      (await rejection(access.authorize(request(basic('bob', BOB_PASSWORD), undefined, connection), pullPrivate))).code,
    ).toBe('DENIED');

    const token = await aliceToken(access);
    await access.authorize(request(`Bearer ${token}`, undefined, connection), pullPrivate);
    const forged = await rejection(
      access.authorize(request(`Bearer ${signatureChanged(token)}`, undefined, connection), pullPrivate),
    );
    expect(forged.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    // The claims changed and the signature kept: refused too.
    const [header, claims, signature] = token.split('.') as [string, string, string];
    const otherClaims = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), sub: 'carol' }),
    ).toString('base64url');
    const swapped = await rejection(
      access.authorize(request(`Bearer ${header}.${otherClaims}.${signature}`, undefined, connection), pullPrivate),
    );
    expect(swapped.code).toBe('UNAUTHORIZED');
  });

  it('stops answering for a token once it has expired, on a connection kept open', async () => {
    let now = Date.UTC(2026, 10, 28, 12, 0, 0);
    const { access } = await createTestController({ ttlMs: 60_000 }, { now: () => now });
    const token = await aliceToken(access);
    const connection = {};
    await expect(access.authorize(request(`Bearer ${token}`, undefined, connection), pullPrivate)).resolves.toEqual({
      user: 'alice',
    });
    // Within the ttl and the 10 s clock tolerance: still accepted from the memo.
    now += 69_000;
    await expect(access.authorize(request(`Bearer ${token}`, undefined, connection), pullPrivate)).resolves.toEqual({
      user: 'alice',
    });
    now += 1_000;
    const refused = await rejection(access.authorize(request(`Bearer ${token}`, undefined, connection), pullPrivate));
    expect(refused.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('sends Basic credentials through the cache again after five minutes', async () => {
    let now = Date.UTC(2026, 10, 28, 12, 0, 0);
    const { access } = await createTestController({}, { now: () => now });
    const keyOf = vi.spyOn(CredentialCache.prototype, 'keyOf');
    const connection = {};
    const alice = basic('alice', ALICE_PASSWORD);
    await access.authorize(request(alice, undefined, connection), pullPrivate);
    keyOf.mockClear();
    now += 5 * 60_000 - 1;
    await access.authorize(request(alice, undefined, connection), pullPrivate);
    expect(keyOf).not.toHaveBeenCalled();
    now += 1;
    await expect(access.authorize(request(alice, undefined, connection), pullPrivate)).resolves.toEqual({
      user: 'alice',
    });
    expect(keyOf).toHaveBeenCalled();
  });

  it('remembers no refusal: a connection whose credentials failed is checked again each time', async () => {
    const { access } = await createTestController();
    const keyOf = vi.spyOn(CredentialCache.prototype, 'keyOf');
    const connection = {};
    const wrong = basic('alice', 'wrong-pw');
    await rejection(access.authorize(request(wrong, undefined, connection), pullPrivate));
    keyOf.mockClear();
    for (let i = 0; i < 3; i++) {
      await rejection(access.authorize(request(wrong, undefined, connection), pullPrivate));
    }
    expect(keyOf).toHaveBeenCalledTimes(3);
  });
});
