/**
 * The conformance suite of the `WritableRepository` contract: what a client that pushes and then
 * pulls through any writable repository (a hosted repository, a group with a writable member) may
 * rely on, on top of the read contract (readable-repository.ts), which it runs first. Each
 * implementation runs it with one factory, handed the content to hold (the read contract's
 * images, or nothing for the write tests, which start from an empty repository):
 *
 *   describeRepository('hosted (memory)', async (content) => ({ repository, close }));
 *
 * Policies (redeploy, read-only) and implementation details (what is stored where) are tested
 * beside each implementation, not here.
 */
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../runtime/oci/digest.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../runtime/oci/media-types.ts';
import type { WritableRepository } from '../../runtime/repositories/repository.ts';
import {
  describeReadableRepository,
  type ReadableRepositoryFixture,
  type RepositoryFactory,
  rejection,
} from './readable-repository.ts';
import { OCI_CONFIG, OCI_LAYER } from './repository-content.ts';

/** What a factory hands the suite: a writable repository holding what it was given, and its disposal. */
export type RepositoryFixture = ReadableRepositoryFixture<WritableRepository>;

export { OCI_INDEX, OCI_MANIFEST } from '../../runtime/oci/media-types.ts';
export { rejection } from './readable-repository.ts';
export { OCI_CONFIG, OCI_LAYER } from './repository-content.ts';
export { readAll };

/** The sha256 digest of `data`. */
export const sha256 = (data: Buffer | string): string => digestOf(data);

/** Pushes `content` as a blob of `image` in one upload, as `ctr push` does; returns its digest. */
export async function pushBlob(
  repository: WritableRepository,
  image: string,
  content: Buffer | string,
): Promise<string> {
  const digest = sha256(content);
  const started = await repository.startUpload(image);
  if (!('upload' in started)) throw new Error('expected an upload session');
  await repository.completeUpload(image, started.upload.id, digest, Readable.from([Buffer.from(content)]));
  return digest;
}

/** Pushes a config and one layer per string, then an OCI image manifest under `reference`. */
export async function pushImage(
  repository: WritableRepository,
  image: string,
  reference: string,
  layers: readonly string[] = ['layer'],
  extra: Record<string, unknown> = {},
): Promise<{ digest: string; body: Buffer; subject?: string }> {
  const config = `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"${image}"}`;
  const configDigest = await pushBlob(repository, image, config);
  const layerDescriptors = [];
  for (const layer of layers) {
    layerDescriptors.push({
      mediaType: OCI_LAYER,
      digest: await pushBlob(repository, image, layer),
      size: layer.length,
    });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: layerDescriptors,
    ...extra,
  };
  const body = Buffer.from(JSON.stringify(manifest, null, 2));
  const result = await repository.putManifest(image, reference, body, OCI_MANIFEST);
  return { ...result, body };
}

/** The read contract over `factory`'s seeded repositories, then the write contract over empty ones. */
export function describeRepository(name: string, factory: RepositoryFactory<WritableRepository>): void {
  describeReadableRepository(name, factory);
  describe(`WritableRepository conformance: ${name}`, () => {
    let fixture: RepositoryFixture | undefined;
    afterEach(async () => {
      await fixture?.close?.();
      fixture = undefined;
    });
    const open = async (): Promise<WritableRepository> => {
      fixture = await factory([]);
      return fixture.repository;
    };

    it('serves a pushed blob whole and by range, only in its image', async () => {
      const repository = await open();
      const digest = await pushBlob(repository, 'team/app', 'hello, registry');
      expect(await repository.statBlob('team/app', digest)).toEqual({ digest, size: 15 });
      const whole = await repository.getBlob('team/app', digest);
      expect(whole.info).toEqual({ digest, size: 15 });
      if (!('stream' in whole.body)) throw new Error('expected a stream');
      expect((await readAll(whole.body.stream)).toString()).toBe('hello, registry');
      const part = await repository.getBlob('team/app', digest, { start: 7, end: 14 });
      if ('stream' in part.body) expect((await readAll(part.body.stream)).toString()).toBe('registry');
      await rejection(repository.statBlob('team/other', digest), 'BLOB_UNKNOWN');
      await rejection(repository.statBlob('team/app', sha256('absent')), 'BLOB_UNKNOWN');
    });

    it('takes a chunked upload, reports its offset and refuses a wrong offset with RANGE_INVALID', async () => {
      const repository = await open();
      const started = await repository.startUpload('app');
      if (!('upload' in started)) throw new Error('expected an upload');
      const { id } = started.upload;
      expect(started.upload.offset).toBe(0);
      expect(await repository.appendUpload('app', id, 0, Readable.from([Buffer.from('abc')]))).toEqual({
        id,
        offset: 3,
      });
      await rejection(repository.appendUpload('app', id, 0, Readable.from([Buffer.from('zzz')])), 'RANGE_INVALID');
      expect(await repository.getUpload('app', id)).toEqual({ id, offset: 3 });
      await repository.appendUpload('app', id, 3, Readable.from([Buffer.from('def')]));
      const info = await repository.completeUpload('app', id, sha256('abcdefg'), Readable.from([Buffer.from('g')]));
      expect(info).toEqual({ digest: sha256('abcdefg'), size: 7 });
      await rejection(repository.getUpload('app', id), 'BLOB_UPLOAD_UNKNOWN');
    });

    it('refuses a digest mismatch with DIGEST_INVALID and shows nothing', async () => {
      const repository = await open();
      const started = await repository.startUpload('app');
      if (!('upload' in started)) throw new Error('expected an upload');
      const claimed = sha256('something else');
      await rejection(
        repository.completeUpload('app', started.upload.id, claimed, Readable.from([Buffer.from('content')])),
        'DIGEST_INVALID',
      );
      await rejection(repository.statBlob('app', claimed), 'BLOB_UNKNOWN');
      await rejection(repository.statBlob('app', sha256('content')), 'BLOB_UNKNOWN');
    });

    it('cancels an upload and keeps uploads to their image', async () => {
      const repository = await open();
      const started = await repository.startUpload('app');
      if (!('upload' in started)) throw new Error('expected an upload');
      await rejection(repository.getUpload('other', started.upload.id), 'BLOB_UPLOAD_UNKNOWN');
      await repository.cancelUpload('app', started.upload.id);
      await rejection(repository.getUpload('app', started.upload.id), 'BLOB_UPLOAD_UNKNOWN');
      await rejection(repository.getUpload('app', 'no-such-upload'), 'BLOB_UPLOAD_UNKNOWN');
    });

    it('mounts a blob from another image of the repository', async () => {
      const repository = await open();
      const digest = await pushBlob(repository, 'base', 'shared layer');
      const mounted = await repository.startUpload('derived', { mount: { digest, from: 'base' } });
      expect(mounted).toEqual({ mounted: { digest, size: 12 } });
      expect(await repository.statBlob('derived', digest)).toEqual({ digest, size: 12 });
      const missing = await repository.startUpload('derived', { mount: { digest: sha256('nope'), from: 'base' } });
      expect('upload' in missing).toBe(true);
    });

    it('pushes a manifest by tag and pulls it by tag and by digest, byte for byte', async () => {
      const repository = await open();
      const pushed = await pushImage(repository, 'team/app', 'v1');
      expect(pushed.digest).toBe(sha256(pushed.body));
      for (const reference of ['v1', pushed.digest]) {
        const manifest = await repository.getManifest('team/app', reference);
        expect(manifest).toMatchObject({ digest: pushed.digest, mediaType: OCI_MANIFEST, size: pushed.body.length });
        expect(manifest.body.equals(pushed.body)).toBe(true);
      }
      await rejection(repository.getManifest('team/app', 'v2'), 'MANIFEST_UNKNOWN');
      await rejection(repository.getManifest('team/other', 'v1'), 'MANIFEST_UNKNOWN');
      await rejection(repository.getManifest('team/app', sha256('absent')), 'MANIFEST_UNKNOWN');
    });

    it('lists tags sorted and images in the catalog', async () => {
      const repository = await open();
      for (const tag of ['v2', 'latest', 'v10', 'v1']) await pushImage(repository, 'b/app', tag);
      await pushImage(repository, 'a/tool', '1.0');
      expect(await repository.listTags('b/app')).toEqual(['latest', 'v1', 'v10', 'v2']);
      expect(await repository.listImages()).toEqual(expect.arrayContaining(['a/tool', 'b/app']));
      const images = await repository.listImages();
      expect(images).toEqual([...images].sort());
    });

    it('refuses a manifest whose blobs are not in the image with MANIFEST_BLOB_UNKNOWN', async () => {
      const repository = await open();
      const layer = await pushBlob(repository, 'elsewhere', 'layer only elsewhere');
      const config = await pushBlob(repository, 'app', '{}');
      const manifest = {
        schemaVersion: 2,
        config: { mediaType: OCI_CONFIG, digest: config, size: 2 },
        layers: [{ mediaType: OCI_LAYER, digest: layer, size: 20 }],
      };
      const error = await rejection(
        repository.putManifest('app', 'v1', Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST),
        'MANIFEST_BLOB_UNKNOWN',
      );
      expect(JSON.stringify(error.detail)).toContain(layer);
      await rejection(repository.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
    });

    it('stores an index whose children are in the image, refuses one whose are not', async () => {
      const repository = await open();
      const amd64 = await pushImage(repository, 'multi', 'amd64', ['amd64 layer']);
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: amd64.digest, size: amd64.body.length }],
      };
      const body = Buffer.from(JSON.stringify(index));
      const { digest } = await repository.putManifest('multi', 'latest', body, OCI_INDEX);
      expect((await repository.getManifest('multi', 'latest')).mediaType).toBe(OCI_INDEX);
      expect(digest).toBe(sha256(body));
      const stray = { ...index, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('x'), size: 1 }] };
      await rejection(
        repository.putManifest('multi', 'broken', Buffer.from(JSON.stringify(stray)), OCI_INDEX),
        'MANIFEST_BLOB_UNKNOWN',
      );
    });

    it('lists referrers of a subject, filtered by artifact type', async () => {
      const repository = await open();
      const subject = await pushImage(repository, 'signed', 'v1');
      const descriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.body.length };
      const signature = await pushImage(repository, 'signed', 'sig', ['sig'], {
        artifactType: 'application/vnd.example.signature',
        subject: descriptor,
      });
      expect(signature.subject).toBe(subject.digest);
      const referrers = await repository.listReferrers('signed', subject.digest);
      expect(referrers).toEqual([
        expect.objectContaining({ digest: signature.digest, artifactType: 'application/vnd.example.signature' }),
      ]);
      expect(await repository.listReferrers('signed', subject.digest, 'application/vnd.other')).toEqual([]);
      expect(await repository.listReferrers('signed', sha256('none'))).toEqual([]);
    });

    it('deletes a manifest by digest: gone by digest and by tag', async () => {
      const repository = await open();
      const pushed = await pushImage(repository, 'app', 'v1');
      await repository.deleteManifest('app', pushed.digest);
      await rejection(repository.getManifest('app', pushed.digest), 'MANIFEST_UNKNOWN');
      await rejection(repository.getManifest('app', 'v1'), 'MANIFEST_UNKNOWN');
      expect(await repository.listTags('app')).toEqual([]);
      await rejection(repository.deleteManifest('app', pushed.digest), 'MANIFEST_UNKNOWN');
    });
  });
}
