/** Plan holder and runtime state: capture-once per request, deferred disposal, reuse across reloads. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PlanHolder } from '../../runtime/plan-holder.ts';
import { createRegistryApp } from '../../runtime/server.ts';
import { createRuntimeState } from '../../runtime/state.ts';
import { FakeWorld, hostedPlan, makePlan, sha256, silentLog } from './http/fakes.ts';

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

describe('createRuntimeState', () => {
  it('reuses unchanged stores and repositories; disposing the old state closes only what it alone held', async () => {
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
    expect(second.stores.get('default')).toBe(first.stores.get('default'));
    expect(second.repositories.get('private')).toBe(first.repositories.get('private'));
    expect(second.repositories.get('other')).not.toBe(first.repositories.get('other'));
    expect(world.stores).toHaveLength(1);

    await first.dispose();
    await first.dispose();
    expect(world.stores[0]!.closed).toBe(0);
    expect((first.repositories.get('other') as unknown as { closed: number }).closed).toBe(1);
    expect((first.repositories.get('private') as unknown as { closed: number }).closed).toBe(0);

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
    await third.dispose();
    expect(world.stores[1]!.closed).toBe(1);
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
