/**
 * A hand-written plan for the auth tests (the compiler is not needed to test auth), the
 * environment its secrets resolve from, a controller over both, a logger that keeps every line
 * it writes, and helpers to build requests.
 */
import { randomBytes } from 'node:crypto';
import { hashSync } from '@node-rs/bcrypt';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { expect } from 'vitest';
import type { Action, LoginThrottlePlan, Plan, RepositoryPlan, UserPlan } from '../../../compiler/plan.ts';
import { type AccessController, type AuthRequest, createAccessController } from '../../../runtime/auth/index.ts';
import { RegistryError } from '../../../runtime/oci/errors.ts';

export const ALICE_PASSWORD = 'alice-s3cret-pw';
export const BOB_PASSWORD = 'bob-plain-pa55';
export const CAROL_PASSWORD = 'carol-hashed-pw';
/** Real bcrypt hashes at cost 4 (fast): alice's goes in the plan, carol's in the environment. */
export const ALICE_HASH = hashSync(ALICE_PASSWORD, 4);
export const CAROL_HASH = hashSync(CAROL_PASSWORD, 4);
/** The shared token key, for plans made with `signingKey: 'TOKEN_KEY'`. */
export const SIGNING_KEY = randomBytes(32).toString('base64');

/** The environment {@link makePlan}'s secrets resolve from (a fresh object each call). */
export function testEnv(): NodeJS.ProcessEnv {
  return { BOB_PASSWORD, CAROL_PASSWORD: CAROL_HASH, TOKEN_KEY: SIGNING_KEY };
}

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
  /** alice's bcrypt hash (config; default {@link ALICE_HASH}), carol's goes through env CAROL_PASSWORD. */
  aliceHash?: string;
  tokenEnabled?: boolean;
  signingKey?: string | null;
  service?: string;
  ttlMs?: number;
  /** Replaces alice's permissions. */
  alicePermissions?: UserPlan['permissions'];
  /** The plan's login throttle (default: none in the plan, so the runtime's default applies). */
  loginThrottle?: LoginThrottlePlan;
  /** No users at all (an anonymous-only registry). */
  noUsers?: boolean;
}

/**
 * Repositories: `private` (hosted, forced auth), `public` (hosted, anonymous pull),
 * `docker-hub` (proxy, anonymous pull), `docker-internal` (proxy, forced auth), `registry`
 * (group of private + docker-hub, forced auth).
 * Users: alice (config bcrypt; pull+push on private and registry), bob (env plaintext; pull on
 * `docker-*`), carol (env bcrypt; everything on `*`).
 */
export function makePlan(options: PlanOptions = {}): Plan {
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
      users: options.noUsers
        ? []
        : [
            {
              name: 'alice',
              password: { bcrypt: options.aliceHash ?? ALICE_HASH },
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
      ...(options.loginThrottle ? { loginThrottle: options.loginThrottle } : {}),
    },
  };
}

/**
 * A request from 127.0.0.1 with the given Authorization header (none when undefined), on
 * `connection` when given (any object standing for a socket).
 */
export function request(
  authorization?: string,
  host = '127.0.0.1:5000',
  connection?: object,
  ip = '127.0.0.1',
): AuthRequest {
  return {
    headers: authorization === undefined ? {} : { authorization },
    host,
    protocol: 'http',
    ip,
    ...(connection === undefined ? {} : { connection }),
  };
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

/** A controller over {@link makePlan}, with the log it writes to. */
export interface TestController {
  access: AccessController;
  log: FastifyBaseLogger;
  lines: string[];
  text: () => string;
}

/**
 * A controller over `makePlan(plan)` with secrets from {@link testEnv} (or `options.env`) and a
 * captured log. Rejects as `createAccessController` does (setup errors).
 */
export async function createTestController(
  plan: PlanOptions = {},
  options: {
    env?: NodeJS.ProcessEnv;
    previous?: AccessController;
    now?: () => number;
    refusalDelayMs?: number;
  } = {},
): Promise<TestController> {
  const capture = captureLog();
  const access = await createAccessController(makePlan(plan), {
    env: options.env ?? testEnv(),
    log: capture.log,
    ...(options.previous ? { previous: options.previous } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.refusalDelayMs === undefined ? {} : { refusalDelayMs: options.refusalDelayMs }),
  });
  return { access, ...capture };
}

/** Routes names as a listener with `paths: { 'docker-hub': 'docker-hub' }` and default `registry` would. */
export function resolveRepository(name: string): string | undefined {
  if (name.startsWith('docker-hub/')) return 'docker-hub';
  if (name.startsWith('unrouted/')) return undefined;
  return 'registry';
}

/** The `RegistryError` a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}
