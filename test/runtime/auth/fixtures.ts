/**
 * A hand-written plan for the auth tests (the compiler is not needed to test auth), a logger
 * that keeps every line it writes, and helpers to build requests.
 */
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Action, Plan, RepositoryPlan, UserPlan } from '../../../compiler/plan.ts';
import type { AuthRequest } from '../../../runtime/auth/index.ts';

export const ALICE_PASSWORD = 'alice-s3cret-pw';
export const BOB_PASSWORD = 'bob-plain-pa55';
export const CAROL_PASSWORD = 'carol-hashed-pw';

function repository(name: string, type: 'hosted' | 'proxy', anonymous: Action[]): RepositoryPlan {
  const base = { name, online: true, blobStore: 'default', access: { anonymous } };
  if (type === 'hosted') return { ...base, type, deploymentPolicy: 'allowRedeploy' };
  return {
    ...base,
    type,
    remote: { url: 'http://127.0.0.1:9', index: 'docker-hub', auth: null, timeoutMs: 30_000 },
    metadataMaxAgeMs: 86_400_000,
    negativeCacheTtlMs: 86_400_000,
    offline: false,
    httpProxy: null,
  };
}

export interface PlanOptions {
  /** alice's bcrypt hash (config), carol's hash goes through env CAROL_PASSWORD. */
  aliceHash: string;
  tokenEnabled?: boolean;
  signingKey?: string | null;
  service?: string;
  ttlMs?: number;
  /** Replaces alice's permissions. */
  alicePermissions?: UserPlan['permissions'];
}

/**
 * Repositories: `private` (hosted, forced auth), `public` (hosted, anonymous pull),
 * `docker-hub` (proxy, anonymous pull), `docker-internal` (proxy, forced auth), `registry`
 * (group of private + docker-hub, forced auth).
 * Users: alice (config bcrypt; pull+push on private and registry), bob (env plaintext; pull on
 * `docker-*`), carol (env bcrypt; everything on `*`).
 */
export function makePlan(options: PlanOptions): Plan {
  const repositories: Record<string, RepositoryPlan> = {
    private: repository('private', 'hosted', []),
    public: repository('public', 'hosted', ['pull']),
    'docker-hub': repository('docker-hub', 'proxy', ['pull']),
    'docker-internal': repository('docker-internal', 'proxy', []),
    registry: {
      name: 'registry',
      type: 'group',
      online: true,
      blobStore: 'default',
      access: { anonymous: [] },
      members: ['private', 'docker-hub'],
      writableMember: 'private',
    },
  };
  const developer = [{ repositories: ['private', 'registry'], actions: ['pull', 'push'] as Action[] }];
  return {
    id: 'test-plan',
    version: 1,
    blobStores: { default: { name: 'default', driver: 'file', path: '/nonexistent' } },
    repositories,
    listeners: [],
    security: {
      realm: 'regctl test',
      users: [
        {
          name: 'alice',
          password: { bcrypt: options.aliceHash },
          roles: ['developer'],
          permissions: options.alicePermissions ?? developer,
        },
        {
          name: 'bob',
          password: { env: 'BOB_PASSWORD' },
          roles: ['reader'],
          permissions: [{ repositories: ['docker-*'], actions: ['pull'] }],
        },
        {
          name: 'carol',
          password: { env: 'CAROL_PASSWORD' },
          roles: ['admin'],
          permissions: [{ repositories: ['*'], actions: ['pull', 'push', 'delete'] }],
        },
      ],
      roles: { developer },
      token: {
        enabled: options.tokenEnabled ?? true,
        issuer: 'regctl',
        service: options.service ?? 'regctl-test',
        ttlMs: options.ttlMs ?? 300_000,
        signingKey:
          options.signingKey === undefined || options.signingKey === null ? null : { env: options.signingKey },
      },
    },
  };
}

/** A request from 127.0.0.1 with the given Authorization header (none when undefined). */
export function request(authorization?: string, host = '127.0.0.1:5000'): AuthRequest {
  return { headers: authorization === undefined ? {} : { authorization }, host, protocol: 'http', ip: '127.0.0.1' };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A real pino logger (fastify's) at trace level whose lines are kept in `lines`. */
export function captureLog(): { log: FastifyBaseLogger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => lines.push(line) } } });
  return { log: app.log, lines, text: () => lines.join('') };
}
