/** Controller lifecycle: secrets resolved at startup, and what a reload carries over. */
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthSetupError, createAccessController } from '../../../runtime/auth/index.ts';
import { RegistryError } from '../../../runtime/errors.ts';
import {
  ALICE_PASSWORD,
  BOB_PASSWORD,
  basic,
  CAROL_PASSWORD,
  captureLog,
  makePlan,
  type PlanOptions,
  request,
} from './fixtures.ts';

let aliceHash: string;
let carolHash: string;
beforeAll(() => {
  aliceHash = bcrypt.hashSync(ALICE_PASSWORD, 4);
  carolHash = bcrypt.hashSync(CAROL_PASSWORD, 4);
});

const SIGNING_KEY = randomBytes(32).toString('base64');
const env = () => ({ BOB_PASSWORD, CAROL_PASSWORD: carolHash, TOKEN_KEY: SIGNING_KEY });

async function controller(options: Partial<PlanOptions> = {}) {
  return createAccessController(makePlan({ aliceHash, ...options }), { env: env(), log: captureLog().log });
}

/** Routes names as a listener with `paths: { 'docker-hub': 'docker-hub' }` and default `registry` would. */
function resolve(name: string): string | undefined {
  if (name.startsWith('docker-hub/')) return 'docker-hub';
  if (name.startsWith('unrouted/')) return undefined;
  return 'registry';
}

async function rejection(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('startup', () => {
  it('names a missing password variable and never prints a value', async () => {
    const plan = makePlan({ aliceHash });
    const error = await createAccessController(plan, {
      env: { CAROL_PASSWORD: carolHash },
      log: captureLog().log,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthSetupError);
    expect((error as AuthSetupError).code).toBe('AUTH_ENV_MISSING');
    expect((error as Error).message).toContain('BOB_PASSWORD');
    expect((error as Error).message).toContain("'bob'");
    expect((error as Error).message).not.toContain(carolHash);
  });

  it('names a missing signing key variable', async () => {
    const plan = makePlan({ aliceHash, signingKey: 'NOT_SET_KEY' });
    const error = await createAccessController(plan, { env: env(), log: captureLog().log }).catch((e: unknown) => e);
    expect((error as AuthSetupError).code).toBe('AUTH_ENV_MISSING');
    expect((error as Error).message).toContain('NOT_SET_KEY');
  });

  it('rejects a malformed bcrypt hash, in the config or in the environment', async () => {
    const inConfig = await createAccessController(makePlan({ aliceHash: '$2b$10$short' }), {
      env: env(),
      log: captureLog().log,
    }).catch((e: unknown) => e);
    expect((inConfig as AuthSetupError).code).toBe('AUTH_BCRYPT_INVALID');
    const inEnv = await createAccessController(makePlan({ aliceHash }), {
      env: { ...env(), CAROL_PASSWORD: '$2y$10$truncated' },
      log: captureLog().log,
    }).catch((e: unknown) => e);
    expect((inEnv as AuthSetupError).code).toBe('AUTH_BCRYPT_INVALID');
    expect((inEnv as Error).message).toContain('CAROL_PASSWORD');
    expect((inEnv as Error).message).not.toContain('truncated');
  });
});

describe('reload', () => {
  it('carries the random token key over to the next controller, with the new plan still deciding', async () => {
    const first = await controller();
    const { token } = await first.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull,push'] },
      resolve,
    );
    const plan = makePlan({ aliceHash, alicePermissions: [{ repositories: ['registry'], actions: ['pull'] }] });
    const second = await createAccessController(plan, { env: env(), log: captureLog().log, previous: first });
    await first.close();
    const scope = { name: 'team/app', repository: 'registry' };
    await expect(second.authorize(request(`Bearer ${token}`), { ...scope, actions: ['pull'] })).resolves.toEqual({
      user: 'alice',
    });
    expect((await rejection(second.authorize(request(`Bearer ${token}`), { ...scope, actions: ['push'] }))).code).toBe(
      'DENIED',
    );
  });

  it('does not carry a key over when the new plan names a shared signing key', async () => {
    const first = await controller();
    const { token } = await first.issueToken(
      request(basic('alice', ALICE_PASSWORD)),
      { scope: ['repository:team/app:pull'] },
      resolve,
    );
    const plan = makePlan({ aliceHash, signingKey: 'TOKEN_KEY' });
    const second = await createAccessController(plan, { env: env(), log: captureLog().log, previous: first });
    const error = await rejection(
      second.authorize(request(`Bearer ${token}`), { name: 'team/app', repository: 'registry', actions: ['pull'] }),
    );
    expect(error.code).toBe('UNAUTHORIZED');
  });
});
