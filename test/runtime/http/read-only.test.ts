/**
 * Writes to a read-only repository (a proxy, which has no write methods) are refused by the HTTP
 * layer in one place (`ApiCall.writeTarget`), with the answer the proxy itself gave before the
 * interface split: 405 `UNSUPPORTED`, saying what it caches and where to push instead. Nothing
 * reaches the upstream. A group without a writable member refuses by itself, naming the group.
 * Real repositories (createRepositories) over the in-memory store and a real loopback upstream.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupRepositoryPlan } from '../../../compiler/plan.ts';
import { createAccessController } from '../../../runtime/auth/index.ts';
import { createRepositories } from '../../../runtime/repositories/index.ts';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState, type RuntimeFactories } from '../../../runtime/server/state.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { type CountingUpstream, startCountingUpstream } from '../../helpers/counting-upstream.ts';
import { proxyPlan } from '../../helpers/proxy-setup.ts';
import { hostedPlan, listenerPlan, makePlan, sha256, silentLog } from './fakes.ts';

const factories: RuntimeFactories = {
  createBlobStore: async (plan) => createMemoryBlobStore({ name: plan.name }),
  createRepositories,
  createAccessController,
};
const everyone = { anonymous: ['pull', 'push', 'delete'] as const };

let upstream: CountingUpstream;
let app: ReturnType<typeof createRegistryApp>;
let holder: PlanHolder;

beforeEach(async () => {
  upstream = await startCountingUpstream();
  const readOnlyGroup: GroupRepositoryPlan = {
    name: 'all',
    type: 'group',
    online: true,
    blobStore: 'default',
    access: { anonymous: ['pull', 'push', 'delete'] },
    members: ['private', 'upstream'],
    writableMember: null,
  };
  const plan = makePlan({
    repositories: [
      hostedPlan('private'),
      proxyPlan(upstream.url, { access: { anonymous: [...everyone.anonymous] } }),
      readOnlyGroup,
    ],
    listeners: [listenerPlan({ defaultRepository: 'upstream', paths: { all: 'all', private: 'private' } })],
  });
  holder = new PlanHolder(await createRuntimeState(plan, { env: {}, log: silentLog, factories }));
  app = createRegistryApp({ holder, listenerId: plan.listeners[0]!.id, log: silentLog });
  await app.ready();
});
afterEach(async () => {
  await app.close();
  await holder.close();
  await upstream.stop();
});

const proxyRefusal = (operation: string) =>
  `${operation} is not supported by proxy repository upstream: it only caches ${upstream.url}, and nothing is ever ` +
  'sent upstream. Push to a hosted repository, or to a group with a writableMember.';

type Method = 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
const digest = sha256('some blob');
/** Every write endpoint, with the operation its refusal names. */
const writes: [Method, string, string][] = [
  ['POST', 'blobs/uploads/', 'pushing a blob'],
  ['POST', `blobs/uploads/?digest=${digest}`, 'pushing a blob'],
  ['POST', `blobs/uploads/?mount=${digest}&from=team/other`, 'pushing a blob'],
  ['PATCH', 'blobs/uploads/some-id', 'an upload'],
  ['PUT', `blobs/uploads/some-id?digest=${digest}`, 'an upload'],
  ['GET', 'blobs/uploads/some-id', 'an upload'],
  ['DELETE', 'blobs/uploads/some-id', 'an upload'],
  ['PUT', 'manifests/v1', 'pushing a manifest'],
  ['DELETE', 'manifests/v1', 'deleting a manifest'],
  ['DELETE', `blobs/${digest}`, 'deleting a blob'],
];

async function send(method: Method, url: string) {
  const withBody = method === 'PUT' || method === 'PATCH' || url.includes('?digest=');
  return app.inject({
    method,
    url,
    ...(withBody
      ? {
          payload: url.includes('manifests') ? '{"schemaVersion":2}' : 'some blob',
          headers: {
            'content-type': url.includes('manifests')
              ? 'application/vnd.oci.image.manifest.v1+json'
              : 'application/octet-stream',
          },
        }
      : {}),
  });
}

describe('a write to a proxy repository', () => {
  it.each(writes)('%s …/%s → 405 UNSUPPORTED (%s), nothing sent upstream', async (method, path, operation) => {
    const response = await send(method, `/v2/team/app/${path}`);
    expect(response.statusCode).toBe(405);
    expect(response.json().errors).toEqual([{ code: 'UNSUPPORTED', message: proxyRefusal(operation) }]);
    expect(upstream.requests).toEqual([]);
  });

  it('is refused only after authorization: a client that may not push gets the challenge, not the refusal', async () => {
    const closed = makePlan({
      repositories: [hostedPlan('private'), proxyPlan(upstream.url)],
      listeners: [listenerPlan({ defaultRepository: 'upstream' })],
    });
    const other = new PlanHolder(await createRuntimeState(closed, { env: {}, log: silentLog, factories }));
    const otherApp = createRegistryApp({ holder: other, listenerId: closed.listeners[0]!.id, log: silentLog });
    try {
      const response = await otherApp.inject({ method: 'POST', url: '/v2/team/app/blobs/uploads/' });
      expect(response.statusCode).toBe(401);
      expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
    } finally {
      await otherApp.close();
      await other.close();
    }
  });
});

describe('a write to a group without a writable member', () => {
  it.each(writes)('%s …/%s → 405 UNSUPPORTED naming the group', async (method, path) => {
    const response = await send(method, `/v2/all/team/app/${path}`);
    expect(response.statusCode).toBe(405);
    const [error] = response.json().errors as { code: string; message: string }[];
    expect(error!.code).toBe('UNSUPPORTED');
    expect(error!.message).toContain('through group all is not possible: it has no writableMember');
    expect(upstream.requests).toEqual([]);
  });
});
