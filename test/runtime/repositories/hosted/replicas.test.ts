/**
 * Two hosted repositories over one store, as two replicas sharing a bucket: what each sees of the
 * other's writes, with the pull-side metadata cache in between (hosted-meta-cache.ts). Pulls may
 * lag another replica's writes by the cache bound at most; a replica's own writes and every write
 * decision (references, redeploy, deletes) read the store.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DeploymentPolicy, HostedRepositoryPlan } from '../../../../compiler/plan.ts';
import { createHostedRepository } from '../../../../runtime/repositories/hosted/hosted.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { OCI_MANIFEST, pushBlob, pushImage, rejection, sha256 } from '../../../suites/repository.ts';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const BOUND_MS = 1000;

function replicas(deploymentPolicy: DeploymentPolicy = 'allowRedeploy') {
  const store = createMemoryBlobStore({ name: 'default' });
  let clock = 0;
  const plan: HostedRepositoryPlan = {
    name: 'private',
    type: 'hosted',
    online: true,
    blobStore: 'default',
    access: { anonymous: [] },
    deploymentPolicy,
  };
  const replica = () =>
    createHostedRepository(plan, { store, log, metadataCache: { maxAgeMs: BOUND_MS, now: () => clock } });
  return {
    store,
    a: replica(),
    b: replica(),
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('hosted: replicas sharing a store', () => {
  it('a re-tag is visible at once on the replica that made it, and on the other within the bound', async () => {
    const { a, b, advance } = replicas();
    const first = await pushImage(a, 'app', 'v1', ['one']);
    expect((await b.getManifest('app', 'v1')).digest).toBe(first.digest);
    const second = await pushImage(a, 'app', 'v1', ['two']);
    expect((await a.getManifest('app', 'v1')).digest).toBe(second.digest);
    expect((await b.getManifest('app', 'v1')).digest).toBe(first.digest);
    advance(BOUND_MS);
    expect((await b.getManifest('app', 'v1')).digest).toBe(second.digest);
  });

  it('a tag written in the store behind the repository’s back is served after the bound', async () => {
    const { store, a, advance } = replicas();
    const first = await pushImage(a, 'app', 'v1', ['one']);
    const second = await pushImage(a, 'app', 'other', ['two']);
    expect((await a.getManifest('app', 'v1')).digest).toBe(first.digest);
    await store.putMeta('repositories/private/images/app/_tags/v1', second.digest);
    advance(BOUND_MS - 1);
    expect((await a.getManifest('app', 'v1')).digest).toBe(first.digest);
    advance(1);
    expect((await a.getManifest('app', 'v1')).digest).toBe(second.digest);
  });

  it('a delete is visible at once on its replica, and on the other within the bound', async () => {
    const { a, b, advance } = replicas();
    const image = await pushImage(a, 'app', 'v1');
    const layer = await pushBlob(a, 'app', 'loose layer');
    expect((await b.getManifest('app', 'v1')).digest).toBe(image.digest);
    expect((await b.statBlob('app', layer)).size).toBe('loose layer'.length);
    await a.deleteManifest('app', image.digest);
    await a.deleteBlob('app', layer);
    await rejection(a.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
    await rejection(a.getManifest('app', image.digest), 'MANIFEST_UNKNOWN');
    await rejection(a.statBlob('app', layer), 'BLOB_UNKNOWN');
    expect((await b.getManifest('app', 'v1')).digest).toBe(image.digest);
    advance(BOUND_MS);
    await rejection(b.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
    await rejection(b.statBlob('app', layer), 'BLOB_UNKNOWN');
  });

  it('a push checks its references in the store, whatever a pull cached', async () => {
    const { a, b } = replicas();
    const layer = 'layer pushed through a';
    await rejection(b.statBlob('app', sha256(layer)), 'BLOB_UNKNOWN'); // b caches "not linked"
    await pushBlob(a, 'app', layer);
    const config = await pushBlob(a, 'app', '{"architecture":"amd64","os":"linux"}');
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 37 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
      }),
    );
    const put = await b.putManifest('app', 'v1', manifest, OCI_MANIFEST);
    expect((await b.getManifest('app', 'v1')).digest).toBe(put.digest);
  });

  it('the redeploy check and deletes read the store, not a pull’s cached answer', async () => {
    const { a, b } = replicas('disableRedeploy');
    await rejection(b.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN'); // b caches "no such tag"
    await pushImage(a, 'app', 'v1', ['one']);
    await rejection(pushImage(b, 'app', 'v1', ['two']), 'DENIED');
    await rejection(b.deleteManifest('app', 'v1'), 'DENIED');

    const loose = await pushBlob(a, 'app', 'loose');
    expect((await b.statBlob('app', loose)).size).toBe(5); // b caches "linked"
    await a.deleteBlob('app', loose);
    await rejection(b.deleteBlob('app', loose), 'BLOB_UNKNOWN');
  });
});
