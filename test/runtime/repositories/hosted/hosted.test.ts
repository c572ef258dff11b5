import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentPolicy, HostedRepositoryPlan } from '../../../../compiler/plan.ts';
import { createHostedRepository } from '../../../../runtime/repositories/hosted/hosted.ts';
import type { BlobStore } from '../../../../runtime/storage/blob-store.ts';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';
import {
  describeRepository,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  pushImage,
  rejection,
  sha256,
} from '../../../suites/repository.ts';
import { seedByPushing } from '../../../suites/repository-content.ts';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

function plan(extra: Partial<HostedRepositoryPlan> = {}): HostedRepositoryPlan {
  return {
    name: 'private',
    type: 'hosted',
    online: true,
    blobStore: 'default',
    access: { anonymous: [] },
    deploymentPolicy: 'allowRedeploy',
    ...extra,
  };
}

function hosted(store: BlobStore, extra: Partial<HostedRepositoryPlan> = {}) {
  return createHostedRepository(plan(extra), { store, log });
}

describeRepository('hosted (memory store)', async (content) => {
  const store = createMemoryBlobStore({ name: 'default' });
  const repository = hosted(store);
  await seedByPushing(repository, content);
  return { repository, close: () => store.close() };
});

describeRepository('hosted (file store)', async (content) => {
  const store = await createFileBlobStore({ name: 'default', driver: 'file', path: await dirs.make() }, { log });
  const repository = hosted(store);
  await seedByPushing(repository, content);
  return { repository, close: () => store.close() };
});

describe('hosted: deployment policies', () => {
  it('allowRedeploy moves a tag and deletes a tag without touching the manifest', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const first = await pushImage(repository, 'app', 'v1', ['one']);
    const second = await pushImage(repository, 'app', 'v1', ['two']);
    expect((await repository.getManifest('app', 'v1')).digest).toBe(second.digest);
    await repository.deleteManifest('app', 'v1');
    await rejection(repository.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
    expect((await repository.getManifest('app', second.digest)).digest).toBe(second.digest);
    expect((await repository.getManifest('app', first.digest)).digest).toBe(first.digest);
    await rejection(repository.deleteManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
  });

  it('disableRedeploy keeps tags immutable: same digest and new tags pass, moves and deletes are denied', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }), { deploymentPolicy: 'disableRedeploy' });
    const first = await pushImage(repository, 'app', 'v1', ['one']);
    await repository.putManifest('app', 'v1', first.body, OCI_MANIFEST);
    const moved = await rejection(pushImage(repository, 'app', 'v1', ['two']), 'DENIED');
    expect(moved.status).toBe(403);
    expect(moved.message).toContain('tag v1 of app already points to ' + first.digest);
    expect(moved.message).toContain('disableRedeploy');
    expect((await repository.getManifest('app', 'v1')).digest).toBe(first.digest);
    const other = await pushImage(repository, 'app', 'v2', ['two']);
    expect(await repository.listTags('app')).toEqual(['v1', 'v2']);
    const tagDelete = await rejection(repository.deleteManifest('app', 'v1'), 'DENIED');
    expect(tagDelete.message).toContain('cannot be deleted');
    await rejection(repository.deleteManifest('app', other.digest), 'DENIED');
  });

  it('disableRedeploy deletes a manifest that no tag points to', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const open = hosted(store);
    const pushed = await pushImage(open, 'app', 'v1');
    await open.deleteManifest('app', 'v1');
    const strict = hosted(store, { deploymentPolicy: 'disableRedeploy' });
    await strict.deleteManifest('app', pushed.digest);
    await rejection(strict.getManifest('app', pushed.digest), 'MANIFEST_UNKNOWN');
  });

  it('readOnly serves what is there and denies every write and delete', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const pushed = await pushImage(hosted(store), 'app', 'v1');
    const layer = await pushBlob(hosted(store), 'app', 'extra');
    const repository = hosted(store, { deploymentPolicy: 'readOnly' });
    expect((await repository.getManifest('app', 'v1')).digest).toBe(pushed.digest);
    expect(await repository.listTags('app')).toEqual(['v1']);
    const writes: Promise<unknown>[] = [
      repository.putManifest('app', 'v2', pushed.body, OCI_MANIFEST),
      repository.deleteManifest('app', 'v1'),
      repository.deleteManifest('app', pushed.digest),
      repository.deleteBlob('app', layer),
      repository.startUpload('app'),
      repository.appendUpload('app', 'any', 0, Readable.from([Buffer.from('x')])),
      repository.completeUpload('app', 'any', layer),
    ];
    for (const write of writes) {
      const error = await rejection(write, 'DENIED');
      expect(error.message).toBe(
        'repository private is read-only (deploymentPolicy: readOnly): pushes and deletes are refused',
      );
    }
    expect((await repository.statBlob('app', layer)).size).toBe(5);
  });

  it.each<DeploymentPolicy>(['allowRedeploy', 'readOnly'])('offline (%s) answers 503 to everything', async (policy) => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }), { online: false, deploymentPolicy: policy });
    const calls: Promise<unknown>[] = [
      repository.getManifest('app', 'v1'),
      repository.putManifest('app', 'v1', Buffer.from('{}'), OCI_MANIFEST),
      repository.statBlob('app', sha256('x')),
      repository.startUpload('app'),
      repository.listTags('app'),
      repository.listImages(),
      repository.listReferrers('app', sha256('x')),
    ];
    for (const call of calls) {
      const error = await rejection(call, 'UNAVAILABLE');
      expect(error.status).toBe(503);
      expect(error.message).toMatch(/repository private is offline/);
    }
  });
});

describe('hosted: manifests', () => {
  it('takes the media type from Content-Type when the body has none (umoci) and returns it on GET', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const config = await pushBlob(repository, 'app', '{}');
    const body = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: { mediaType: OCI_CONFIG, digest: config, size: 2 }, layers: [] }),
    );
    await repository.putManifest('app', 'v1', body, OCI_MANIFEST);
    const got = await repository.getManifest('app', 'v1');
    expect(got.mediaType).toBe(OCI_MANIFEST);
    expect(got.body.equals(body)).toBe(true);
  });

  it('refuses schema 1, a bad tag and a digest that does not match the body', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const schema1 = await rejection(
      repository.putManifest(
        'app',
        'v1',
        Buffer.from('{"schemaVersion":1}'),
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
      ),
      'MANIFEST_INVALID',
    );
    expect(schema1.message).toMatch(/skopeo copy --format v2s2/);
    await rejection(repository.putManifest('app', '-bad', Buffer.from('{}'), OCI_MANIFEST), 'MANIFEST_INVALID');
    const pushed = await pushImage(repository, 'app', 'v1');
    const mismatch = await rejection(
      repository.putManifest('app', sha256('other'), pushed.body, OCI_MANIFEST),
      'DIGEST_INVALID',
    );
    expect(mismatch.detail).toEqual({ expected: sha256('other'), actual: pushed.digest });
  });

  it('requires blobs linked in the image, not merely present in the store', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const elsewhere = hosted(store, { name: 'elsewhere' });
    const layer = await pushBlob(elsewhere, 'app', 'layer in another repository');
    const repository = hosted(store);
    const config = await pushBlob(repository, 'app', '{}');
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: OCI_CONFIG, digest: config, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 27 }],
      }),
    );
    const error = await rejection(repository.putManifest('app', 'v1', body, OCI_MANIFEST), 'MANIFEST_BLOB_UNKNOWN');
    expect(error.detail).toEqual({ digest: layer, missing: [layer] });
    expect(error.message).toContain(layer);
  });

  it('accepts a subject that is not there yet, records the referrer, and drops it on delete', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const subject = { mediaType: OCI_MANIFEST, digest: sha256('not pushed yet'), size: 14 };
    const sbom = await pushImage(repository, 'app', 'sbom', ['sbom'], {
      subject,
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    });
    expect(sbom.subject).toBe(subject.digest);
    const referrers = await repository.listReferrers('app', subject.digest);
    expect(referrers).toEqual([
      {
        mediaType: OCI_MANIFEST,
        digest: sbom.digest,
        size: sbom.body.length,
        artifactType: OCI_CONFIG,
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      },
    ]);
    expect(await repository.listReferrers('app', subject.digest, OCI_CONFIG)).toHaveLength(1);
    expect(await repository.listReferrers('other', subject.digest)).toEqual([]);
    await repository.deleteManifest('app', sbom.digest);
    expect(await repository.listReferrers('app', subject.digest)).toEqual([]);
  });

  it('stores an index only when its children are manifests of the same image', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const child = await pushImage(repository, 'one', 'arm64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.body.length }],
      }),
    );
    const error = await rejection(repository.putManifest('two', 'latest', index, OCI_INDEX), 'MANIFEST_BLOB_UNKNOWN');
    expect(error.detail).toEqual({ digest: child.digest, missing: [child.digest] });
    const { digest } = await repository.putManifest('one', 'latest', index, OCI_INDEX);
    expect((await repository.getManifest('one', digest)).mediaType).toBe(OCI_INDEX);
  });

  it('answers MANIFEST_UNKNOWN for a malformed reference without asking the store', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    await pushImage(repository, 'app', 'v1');
    for (const reference of ['sha256:abc', '.hidden', 'a/b']) {
      await rejection(repository.getManifest('app', reference), 'MANIFEST_UNKNOWN');
      await rejection(repository.deleteManifest('app', reference), 'MANIFEST_UNKNOWN');
    }
  });

  it('answers NAME_UNKNOWN for the tags of an image that was never pushed', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const error = await rejection(repository.listTags('nobody/here'), 'NAME_UNKNOWN');
    expect(error.detail).toEqual({ name: 'nobody/here' });
    expect(await repository.listImages()).toEqual([]);
  });
});
