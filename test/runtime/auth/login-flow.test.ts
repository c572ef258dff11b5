/**
 * The `docker login` handshake end to end over HTTP on loopback: a minimal fastify app routes
 * `GET /v2/` and `GET /-/token` to the access controller (as the HTTP layer does), first driven
 * by hand step by step, then by a real client (skopeo login, which does the same as docker).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessController, AuthRequest } from '../../../runtime/auth/index.ts';
import { isRegistryError } from '../../../runtime/oci/errors.ts';
import { ALICE_PASSWORD, BOB_PASSWORD, basic, createTestController } from './fixtures.ts';

const run = promisify(execFile);

function authRequest(request: {
  headers: AuthRequest['headers'];
  host: string;
  protocol: string;
  ip: string;
}): AuthRequest {
  return {
    headers: request.headers,
    host: request.host,
    protocol: request.protocol === 'https' ? 'https' : 'http',
    ip: request.ip,
  };
}

/** Parses `Bearer realm="…",service="…",scope="…"` into its parameters. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const [scheme, rest = ''] = header.split(/ (.*)/s);
  const params: Record<string, string> = {};
  for (const match of rest.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) params[match[1]!] = match[2]!;
  return { scheme: scheme!, params };
}

let app: FastifyInstance;
let access: AccessController;
let origin: string;
let host: string;
/** `METHOD path scheme` of every request the app saw, to check what a real client did. */
const seen: string[] = [];

beforeAll(async () => {
  ({ access } = await createTestController());
  app = Fastify();
  app.addHook('onRequest', async (request) => {
    const scheme = request.headers.authorization?.split(' ', 1)[0] ?? 'none';
    seen.push(`${request.method} ${request.url.split('?')[0]} ${scheme}`);
  });
  app.setErrorHandler((error, _request, reply) => {
    if (!isRegistryError(error)) throw error;
    reply.code(error.status).headers(error.headers).send(error.toJSON());
  });
  // A listener whose only repositories need authentication: the ping must challenge.
  app.get('/v2/', async (request) => {
    await access.authorize(authRequest(request), { base: true, repositories: ['private', 'registry'] });
    return {};
  });
  app.get('/v2/team/app/tags/list', async (request) => {
    await access.authorize(authRequest(request), { name: 'team/app', repository: 'registry', actions: ['pull'] });
    return { name: 'team/app', tags: [] };
  });
  app.get<{ Querystring: { service?: string; scope?: string | string[]; account?: string } }>(
    '/-/token',
    async (request) => {
      const { service, account } = request.query;
      const scope = request.query.scope === undefined ? [] : [request.query.scope].flat();
      return access.issueToken(authRequest(request), { service, scope, account }, (name) =>
        name.startsWith('team/') ? 'registry' : undefined,
      );
    },
  );
  origin = await app.listen({ host: '127.0.0.1', port: 0 });
  host = new URL(origin).host;
});

afterAll(async () => {
  await app?.close();
  await access?.close();
});

describe('docker login flow', () => {
  it('ping → 401 Bearer → token with Basic → ping with Bearer → 200 → pull with a scoped token', async () => {
    const ping = await fetch(`${origin}/v2/`);
    expect(ping.status).toBe(401);
    const challenge = parseChallenge(ping.headers.get('www-authenticate')!);
    expect(challenge).toEqual({ scheme: 'Bearer', params: { realm: `${origin}/-/token`, service: 'regctl-test' } });

    const tokenUrl = new URL(challenge.params.realm!);
    tokenUrl.searchParams.set('service', challenge.params.service!);
    tokenUrl.searchParams.set('account', 'alice');
    const login = await fetch(tokenUrl, { headers: { authorization: basic('alice', ALICE_PASSWORD) } });
    expect(login.status).toBe(200);
    const body = (await login.json()) as { token: string; expires_in: number };
    expect(body.expires_in).toBe(300);

    const again = await fetch(`${origin}/v2/`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(again.status).toBe(200);

    // The login token names no repository: the pull is challenged with its scope, then succeeds.
    const tags = await fetch(`${origin}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(tags.status).toBe(401);
    const scoped = parseChallenge(tags.headers.get('www-authenticate')!);
    expect(scoped.params.scope).toBe('repository:team/app:pull');
    expect(scoped.params.error).toBe('insufficient_scope');
    tokenUrl.searchParams.set('scope', scoped.params.scope!);
    const pullToken = (await (
      await fetch(tokenUrl, { headers: { authorization: basic('alice', ALICE_PASSWORD) } })
    ).json()) as { token: string };
    const pulled = await fetch(`${origin}/v2/team/app/tags/list`, {
      headers: { authorization: `Bearer ${pullToken.token}` },
    });
    expect(pulled.status).toBe(200);
  });

  it('answers a wrong password at the token endpoint with 401 and the OCI error body', async () => {
    const response = await fetch(`${origin}/-/token?service=regctl-test`, {
      headers: { authorization: basic('alice', 'nope') },
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
  });

  it('works with a real client: skopeo login succeeds with the right password and fails with a wrong one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-auth-'));
    try {
      const authfile = join(dir, 'auth.json');
      const login = (password: string) =>
        run('skopeo', ['login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', password, host], {
          timeout: 20_000,
        });
      seen.length = 0;
      const ok = await login(ALICE_PASSWORD);
      expect(ok.stdout).toContain('Login Succeeded');
      expect(seen).toEqual(['GET /v2/ none', 'GET /-/token Basic', 'GET /v2/ Bearer']);
      expect(JSON.parse(await readFile(authfile, 'utf8')).auths[host]).toBeDefined();
      const failed = await login('wrong-password').then(
        () => null,
        (error: { stderr: string }) => error,
      );
      expect(failed?.stderr).toMatch(/401|unauthorized|invalid username\/password/i);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('works with podman login too (its own storage under a temp dir, nothing else touched)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-auth-podman-'));
    try {
      const authfile = join(dir, 'auth.json');
      const podman = (...args: string[]) =>
        run(
          'podman',
          [
            '--root',
            join(dir, 'root'),
            '--runroot',
            join(dir, 'run'),
            '--storage-driver',
            'vfs',
            '--cgroup-manager',
            'cgroupfs',
            '--events-backend',
            'file',
            ...args,
          ],
          { timeout: 30_000, env: { ...process.env, REGISTRY_AUTH_FILE: authfile } },
        );
      const login = (user: string, password: string) =>
        podman('login', '--tls-verify=false', '--authfile', authfile, '-u', user, '-p', password, host);
      seen.length = 0;
      expect((await login('bob', BOB_PASSWORD)).stdout).toContain('Login Succeeded');
      expect(seen).toEqual(['GET /v2/ none', 'GET /-/token Basic', 'GET /v2/ Bearer']);
      const failed = await login('bob', 'wrong-password').then(
        () => null,
        (error: { stderr: string }) => error,
      );
      expect(failed?.stderr).toMatch(/401|unauthorized|invalid username\/password/i);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
