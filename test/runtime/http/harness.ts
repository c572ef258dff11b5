/** Builds an app over fakes for `inject()` tests. */
import type { FastifyInstance } from 'fastify';
import type { Plan } from '../../../compiler/plan.ts';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, makePlan, silentLog } from './fakes.ts';

export interface Harness {
  app: FastifyInstance;
  holder: PlanHolder;
  world: FakeWorld;
  plan: Plan;
  close(): Promise<void>;
}

export async function createHarness(plan: Plan = makePlan()): Promise<Harness> {
  const world = new FakeWorld();
  const state = await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories });
  const holder = new PlanHolder(state);
  const app = createRegistryApp({ holder, listenerId: plan.listeners[0]!.id, log: silentLog });
  await app.ready();
  return {
    app,
    holder,
    world,
    plan,
    close: async () => {
      await app.close();
      await holder.close();
    },
  };
}
