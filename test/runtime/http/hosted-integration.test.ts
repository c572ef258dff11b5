/**
 * The v2 API over the real hosted repository (runtime/repositories/hosted) on the in-memory blob store and
 * the real access controller: what the fakes stand in for elsewhere, end to end in one process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { createAccessController } from '../../../runtime/auth/index.ts';
import { createRepositories } from '../../../runtime/repositories/index.ts';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState, type RuntimeFactories } from '../../../runtime/server/state.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { hostedPlan, listenerPlan, makePlan, sha256, silentLog } from './fakes.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const factories: RuntimeFactories = {
  createBlobStore: async (plan) => createMemoryBlobStore({ name: plan.name }),
  createRepositories,
  createAccessController,
};

let app: ReturnType<typeof createRegistryApp>;
let holder: PlanHolder;

async function start(plan: Plan) {
  holder = new PlanHolder(await createRuntimeState(plan, { env: {}, log: silentLog, factories }));
  app = createRegistryApp({ holder, listenerId: plan.listeners[0]!.id, log: silentLog });
  await app.ready();
}

beforeEach(() =>
  start(
    makePlan({
      repositories: [hostedPlan('private'), hostedPlan('frozen', { deploymentPolicy: 'disableRedeploy' })],
      listeners: [listenerPlan({ paths: { frozen: 'frozen' } })],
    }),
  ),
);
afterEach(async () => {
  await app.close();
  await holder.close();
});

async function pushBlob(name: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const post = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` });
  expect(post.statusCode).toBe(202);
  const location = post.headers.location as string;
  const half = Math.floor(data.length / 2);
  const first = await app.inject({
    method: 'PATCH',
    url: location,
    payload: data.subarray(0, half),
    headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` },
  });
  expect(first.statusCode).toBe(202);
  const put = await app.inject({
    method: 'PUT',
    url: `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`,
    payload: data.subarray(half),
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(put.statusCode).toBe(201);
  expect(put.headers['docker-content-digest']).toBe(digest);
  return digest;
}

async function pushImage(name: string, tag: string, extra: Record<string, unknown> = {}) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = Buffer.from(`layer of ${name}:${tag}`);
  const configDigest = await pushBlob(name, config);
  const layerDigest = await pushBlob(name, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
      ...extra,
    }),
  );
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${tag}`,
    payload: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  return { res, manifest, digest: sha256(manifest), layerDigest };
}

describe('v2 API over the hosted repository', () => {
  it('push (chunked blobs + manifest), then pull manifest, blob, tags and catalog', async () => {
    const { res, manifest, digest, layerDigest } = await pushImage('myorg/app', 'v1');
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/v2/myorg/app/manifests/${digest}`);

    const get = await app.inject({
      method: 'GET',
      url: '/v2/myorg/app/manifests/v1',
      headers: { accept: OCI_MANIFEST },
    });
    expect(get.statusCode).toBe(200);
    expect(get.rawPayload).toEqual(manifest);
    expect(get.headers['content-type']).toBe(OCI_MANIFEST);
    expect(get.headers['docker-content-digest']).toBe(digest);

    const blob = await app.inject({ method: 'GET', url: `/v2/myorg/app/blobs/${layerDigest}` });
    expect(blob.statusCode).toBe(200);
    expect(blob.body).toBe('layer of myorg/app:v1');
    const range = await app.inject({
      method: 'GET',
      url: `/v2/myorg/app/blobs/${layerDigest}`,
      headers: { range: 'bytes=0-4' },
    });
    expect(range.statusCode).toBe(206);
    expect(range.body).toBe('layer');

    expect((await app.inject({ method: 'GET', url: '/v2/myorg/app/tags/list' })).json()).toEqual({
      name: 'myorg/app',
      tags: ['v1'],
    });
    expect((await app.inject({ method: 'GET', url: '/v2/_catalog' })).json()).toEqual({ repositories: ['myorg/app'] });
  });

  it('mount between images, MANIFEST_BLOB_UNKNOWN, policies, deletes, referrers', async () => {
    const base = await pushImage('base', 'v1');
    const mount = await app.inject({
      method: 'POST',
      url: `/v2/derived/blobs/uploads/?mount=${base.layerDigest}&from=base`,
    });
    expect(mount.statusCode).toBe(201);
    expect((await app.inject({ method: 'HEAD', url: `/v2/derived/blobs/${base.layerDigest}` })).statusCode).toBe(200);

    const dangling = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha256('missing'), size: 7 },
        layers: [],
      }),
    );
    const bad = await app.inject({
      method: 'PUT',
      url: '/v2/base/manifests/bad',
      payload: dangling,
      headers: { 'content-type': OCI_MANIFEST },
    });
    expect(bad.statusCode).toBe(404);
    expect(bad.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');

    const referrer = await pushImage('base', 'sbom', {
      artifactType: 'application/spdx+json',
      subject: { mediaType: OCI_MANIFEST, digest: base.digest, size: base.manifest.length },
    });
    expect(referrer.res.headers['oci-subject']).toBe(base.digest);
    const referrers = await app.inject({
      method: 'GET',
      url: `/v2/base/referrers/${base.digest}?artifactType=application%2Fspdx%2Bjson`,
    });
    expect(referrers.statusCode).toBe(200);
    expect(referrers.headers['oci-filters-applied']).toBe('artifactType');
    expect(referrers.json().manifests.map((m: { digest: string }) => m.digest)).toEqual([referrer.digest]);

    expect((await pushImage('frozen/app', 'v1')).res.statusCode).toBe(201);
    const redeploy = await pushImage('frozen/app', 'v1', { annotations: { changed: 'yes' } });
    expect(redeploy.res.statusCode).toBe(403);
    expect(redeploy.res.json().errors[0].code).toBe('DENIED');

    expect((await app.inject({ method: 'DELETE', url: `/v2/base/manifests/${base.digest}` })).statusCode).toBe(202);
    expect((await app.inject({ method: 'GET', url: `/v2/base/manifests/${base.digest}` })).statusCode).toBe(404);
  });
});
