/** Plan holder and runtime state: capture-once per request, deferred disposal, reuse across reloads. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { type FakeRepository, FakeWorld, hostedPlan, makePlan, sha256, silentLog } from '../http/fakes.ts';

const DIGEST = sha256('slow');

describe('PlanHolder', () => {
  it('an in-flight request finishes on the state it started with; that state is disposed after it', async () => {
    const world = new FakeWorld();
    const plan1 = makePlan({ id: 'plan-1' });
    const plan2 = makePlan({
      id: 'plan-2',
      repositories: [hostedPlan('private', { online: true, access: { anonymous: ['pull'] } })],
    });
    const holder = new PlanHolder(
      await createRuntimeState(plan1, { env: {}, log: silentLog, factories: world.factories }),
    );
    const app = createRegistryApp({ holder, listenerId: plan1.listeners[0]!.id, log: silentLog });
    await app.ready();

    const oldRepository = world.repositories.get('private')!;
    const body = new PassThrough();
    let started!: () => void;
    const reached = new Promise<void>((resolve) => {
      started = resolve;
    });
    oldRepository.getBlob = async (_image, digest) => {
      started();
      return { info: { digest, size: 4 }, body: { stream: body } };
    };
    const pending = app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}` });
    await reached;
    expect(holder.inFlight).toBe(1);

    const next = await createRuntimeState(plan2, {
      env: {},
      log: silentLog,
      factories: world.factories,
      previous: holder.state,
    });
    const { drained } = holder.swap(next, { durationMs: 5 });
    let disposed = false;
    void drained.then(() => {
      disposed = true;
    });

    const status = (await app.inject({ method: 'GET', url: '/-/status' })).json();
    expect(status.planId).toBe('plan-2');
    expect(status.lastReload).toMatchObject({ ok: true, planId: 'plan-2', previousPlanId: 'plan-1', durationMs: 5 });
    expect(world.repositories.get('private')).not.toBe(oldRepository);

    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(disposed).toBe(false);
    expect(world.controllers[0]!.closed).toBe(0);
    expect(oldRepository.closed).toBe(0);

    body.end('slow');
    const response = await pending;
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('slow');
    await drained;
    expect(disposed).toBe(true);
    expect(world.controllers[0]!.closed).toBe(1);
    expect(oldRepository.closed).toBe(1);
    expect(world.controllers[1]!.closed).toBe(0);

    await app.close();
    await holder.close();
    expect(world.controllers[1]!.closed).toBe(1);
  });

  it('a failed reload is recorded and the active state keeps serving', async () => {
    const world = new FakeWorld();
    const holder = new PlanHolder(
      await createRuntimeState(makePlan(), { env: {}, log: silentLog, factories: world.factories }),
    );
    holder.recordFailure(new Error('port 5000 in use'), { durationMs: 3 });
    expect(holder.lastReload).toMatchObject({ ok: false, error: 'port 5000 in use', planId: 'plan-1', durationMs: 3 });
    expect(holder.state.plan.id).toBe('plan-1');
    await holder.close();
  });
});

describe('PlanHolder records', () => {
  it('the latest attempt whatever its outcome, and whether the serving plan matches the config on disk', async () => {
    const world = new FakeWorld();
    const revision = { commit: 'a'.repeat(40), dirty: false };
    const holder = new PlanHolder(
      await createRuntimeState(makePlan(), { env: {}, log: silentLog, factories: world.factories }),
      { configPath: '/etc/regctl/registry.config.ts', revision },
    );
    expect(holder.lastReload).toMatchObject({ outcome: 'initial', ok: true });
    expect(holder.config).toMatchObject({
      path: '/etc/regctl/registry.config.ts',
      inSync: true,
      servingRevision: revision,
    });
    holder.recordFailure(new Error('config invalid'), { revision: { commit: 'b'.repeat(40), dirty: true } });
    expect(holder.lastReload).toMatchObject({ outcome: 'failed', ok: false, error: 'config invalid' });
    expect(holder.config).toMatchObject({ inSync: false, servingRevision: revision });
    const since = holder.config.servingSince;
    const fixed = { commit: 'c'.repeat(40), dirty: false };
    holder.recordUnchanged({ durationMs: 4, revision: fixed });
    expect(holder.lastReload).toMatchObject({ outcome: 'unchanged', ok: true, durationMs: 4 });
    expect(holder.lastReload.error).toBeUndefined();
    expect(holder.config).toMatchObject({ inSync: true, servingRevision: fixed, servingSince: since });
    await holder.close();
  });
});

describe('createRuntimeState', () => {
  it('leases unchanged stores and shared resources to the next state; disposing the old one closes only what no newer state leases', async () => {
    const world = new FakeWorld();
    const plan1 = makePlan({ id: 'a', repositories: [hostedPlan('private'), hostedPlan('other')] });
    const first = await createRuntimeState(plan1, { env: {}, log: silentLog, factories: world.factories });
    const plan2 = makePlan({
      id: 'b',
      repositories: [hostedPlan('private'), hostedPlan('other', { deploymentPolicy: 'readOnly' })],
    });
    const second = await createRuntimeState(plan2, {
      env: {},
      log: silentLog,
      factories: world.factories,
      previous: first,
    });
    const repository = (state: typeof first, name: string) => state.repositories.get(name) as unknown as FakeRepository;
    expect(second.stores.get('default')).toBe(first.stores.get('default'));
    expect(world.stores).toHaveLength(1);
    // Repositories are per state; what they share is leased: same key, same instance.
    expect(repository(second, 'private')).not.toBe(repository(first, 'private'));
    expect(repository(second, 'private').shared).toBe(repository(first, 'private').shared);
    expect(repository(second, 'other').shared).not.toBe(repository(first, 'other').shared);
    expect(world.shared).toHaveLength(3);

    await first.dispose();
    await first.dispose();
    expect(world.stores[0]!.closed).toBe(0);
    expect(repository(first, 'private').closed).toBe(1);
    expect(repository(first, 'other').closed).toBe(1);
    // The old state's own resource for `other` closes; the one `private` shares with `second` does not.
    expect(repository(first, 'other').shared!.closed).toBe(1);
    expect(repository(second, 'private').shared!.closed).toBe(0);
    expect(repository(second, 'private').closed).toBe(0);

    // a changed store definition gets a new instance; the old one closes with the last state using it
    const plan3 = {
      ...plan2,
      id: 'c',
      blobStores: { default: { name: 'default', driver: 'file' as const, path: '/elsewhere' } },
    };
    const third = await createRuntimeState(plan3, {
      env: {},
      log: silentLog,
      factories: world.factories,
      previous: second,
    });
    expect(world.stores).toHaveLength(2);
    await second.dispose();
    expect(world.stores[0]!.closed).toBe(1);
    expect(world.stores[1]!.closed).toBe(0);
    // Unchanged repository plans: the leased resources carried over to `third` stay open.
    expect(repository(third, 'private').shared).toBe(repository(second, 'private').shared);
    expect(repository(third, 'private').shared!.closed).toBe(0);
    await third.dispose();
    expect(world.stores[1]!.closed).toBe(1);
    expect(world.shared.map((shared) => shared.closed)).toEqual([1, 1, 1]);
  });

  it('a chain of reloads that keeps a resource never closes it until the last state goes', async () => {
    const world = new FakeWorld();
    const plan = (id: string, extra: number) =>
      makePlan({
        id,
        repositories: [hostedPlan('private'), ...Array.from({ length: extra }, (_, k) => hostedPlan(`x${k}`))],
      });
    let state = await createRuntimeState(plan('p0', 0), { env: {}, log: silentLog, factories: world.factories });
    const kept = (state.repositories.get('private') as unknown as FakeRepository).shared!;
    for (let n = 1; n <= 20; n += 1) {
      const next = await createRuntimeState(plan(`p${n}`, n % 3), {
        env: {},
        log: silentLog,
        factories: world.factories,
        previous: state,
      });
      await state.dispose();
      state = next;
      expect((state.repositories.get('private') as unknown as FakeRepository).shared).toBe(kept);
      expect(kept.closed).toBe(0);
    }
    await state.dispose();
    expect(kept.closed).toBe(1);
    expect(world.shared.every((shared) => shared.closed === 1)).toBe(true);
  });

  it('a failed attempt releases its leases without closing what the serving state still uses', async () => {
    const world = new FakeWorld();
    const first = await createRuntimeState(makePlan({ id: 'a' }), {
      env: {},
      log: silentLog,
      factories: world.factories,
    });
    const factories = {
      ...world.factories,
      createAccessController: async () => {
        throw new Error('AUTH_ENV_MISSING: CI_PASSWORD');
      },
    };
    await expect(
      createRuntimeState(makePlan({ id: 'b' }), { env: {}, log: silentLog, factories, previous: first }),
    ).rejects.toThrow('CI_PASSWORD');
    expect(world.stores[0]!.closed).toBe(0);
    expect(world.shared[0]!.closed).toBe(0);
    expect(world.shared).toHaveLength(1);
    await first.dispose();
    expect(world.stores[0]!.closed).toBe(1);
    expect(world.shared[0]!.closed).toBe(1);
  });

  it('a failure while building closes what the attempt created and throws', async () => {
    const world = new FakeWorld();
    const factories = {
      ...world.factories,
      createAccessController: async () => {
        throw new Error('AUTH_ENV_MISSING: CI_PASSWORD');
      },
    };
    await expect(createRuntimeState(makePlan(), { env: {}, log: silentLog, factories })).rejects.toThrow('CI_PASSWORD');
    expect(world.stores[0]!.closed).toBe(1);
    expect(world.repositories.get('private')!.closed).toBe(1);
  });
});
