/**
 * The conformance suite of the `ReadableRepository` contract: what a client that only pulls may
 * rely on from every repository (hosted, group, proxy). Each implementation runs it with a
 * factory that is handed the content to hold (repository-content.ts) and returns a repository
 * serving it:
 *
 *   describeReadableRepository('proxy', async (content) => ({ repository, close }));
 *
 * Every test gets a fresh repository from the factory. Writes are the write contract's
 * (repository.ts); caching, freshness and failover are tested beside each implementation.
 */
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../runtime/oci/digest.ts';
import { RegistryError, type RegistryErrorCode } from '../../runtime/oci/errors.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../runtime/oci/media-types.ts';
import type { BlobResponse, ReadableRepository } from '../../runtime/repositories/repository.ts';
import { CONTRACT_CONTENT, contract, type RepositoryContent, SIGNATURE_TYPE } from './repository-content.ts';

/** What a factory hands the suite: a repository holding the content it was given, and its disposal. */
export interface ReadableRepositoryFixture<R extends ReadableRepository = ReadableRepository> {
  readonly repository: R;
  readonly close?: () => Promise<void>;
}

/** Builds a repository holding `content` (for the write contract: an empty one). */
export type RepositoryFactory<R extends ReadableRepository = ReadableRepository> = (
  content: RepositoryContent,
) => Promise<ReadableRepositoryFixture<R>>;

/** The RegistryError a promise rejects with; fails when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>, code: RegistryErrorCode): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ${code} RegistryError`).toBeInstanceOf(RegistryError);
  expect((error as RegistryError).code).toBe(code);
  return error as RegistryError;
}

/** The bytes of a blob response (the suite's stores answer with streams, never redirects). */
async function bytesOf(response: BlobResponse): Promise<string> {
  if (!('stream' in response.body)) throw new Error('expected a stream, got a redirect');
  return (await readAll(response.body.stream)).toString();
}

export function describeReadableRepository(name: string, factory: RepositoryFactory): void {
  describe(`ReadableRepository conformance: ${name}`, () => {
    let fixture: ReadableRepositoryFixture | undefined;
    afterEach(async () => {
      await fixture?.close?.();
      fixture = undefined;
    });
    const open = async (): Promise<ReadableRepository> => {
      fixture = await factory(CONTRACT_CONTENT);
      return fixture.repository;
    };

    it('serves manifests by tag and by digest, byte for byte, with their media type', async () => {
      const repository = await open();
      const { v1, v2 } = contract.app;
      for (const [held, references] of [
        [v1, ['v1', 'v10', v1.digest]],
        [v2, ['latest', 'v2', v2.digest]],
      ] as const) {
        for (const reference of references) {
          const manifest = await repository.getManifest('team/app', reference);
          expect(manifest, reference).toMatchObject({
            digest: held.digest,
            mediaType: OCI_MANIFEST,
            size: held.body.length,
          });
          expect(manifest.body.equals(held.body), reference).toBe(true);
        }
      }
      const index = await repository.getManifest('multi', 'latest');
      expect(index).toMatchObject({ digest: contract.multi.index.digest, mediaType: OCI_INDEX });
      expect(index.body.equals(contract.multi.index.body)).toBe(true);
      const child = await repository.getManifest('multi', contract.multi.amd64.digest);
      expect(child.body.equals(contract.multi.amd64.body)).toBe(true);
    });

    it('answers MANIFEST_UNKNOWN for an unknown tag, an unknown digest, another image’s manifest', async () => {
      const repository = await open();
      await rejection(repository.getManifest('team/app', 'v3'), 'MANIFEST_UNKNOWN');
      await rejection(repository.getManifest('team/app', digestOf('absent')), 'MANIFEST_UNKNOWN');
      // Pulled in its image first: a cache must not hand it to another image.
      await repository.getManifest('team/app', contract.app.v1.digest);
      await rejection(repository.getManifest('a/tool', contract.app.v1.digest), 'MANIFEST_UNKNOWN');
      await rejection(repository.getManifest('team/nothing', 'v1'), 'MANIFEST_UNKNOWN');
    });

    it('serves a blob whole and by range', async () => {
      const repository = await open();
      const layer = digestOf(contract.app.layer);
      expect(await repository.statBlob('team/app', layer)).toEqual({ digest: layer, size: 15 });
      const whole = await repository.getBlob('team/app', layer);
      expect(whole.info).toEqual({ digest: layer, size: 15 });
      expect(await bytesOf(whole)).toBe('hello, registry');
      expect(await bytesOf(await repository.getBlob('team/app', layer, { start: 7, end: 14 }))).toBe('registry');
      expect(await bytesOf(await repository.getBlob('team/app', layer, { start: 0, end: 4 }))).toBe('hello');
    });

    it('answers BLOB_UNKNOWN for an unknown digest and for a blob of another image', async () => {
      const repository = await open();
      const layer = digestOf(contract.app.layer);
      await rejection(repository.statBlob('team/app', digestOf('absent')), 'BLOB_UNKNOWN');
      await rejection(repository.getBlob('team/app', digestOf('absent')), 'BLOB_UNKNOWN');
      // Served in its image first: what is cached for one image is not another image's.
      await bytesOf(await repository.getBlob('team/app', layer));
      await rejection(repository.statBlob('a/tool', layer), 'BLOB_UNKNOWN');
      await rejection(repository.getBlob('a/tool', layer), 'BLOB_UNKNOWN');
      await rejection(repository.statBlob('team/nothing', layer), 'BLOB_UNKNOWN');
    });

    it('lists tags sorted; NAME_UNKNOWN for an unknown image', async () => {
      const repository = await open();
      expect(await repository.listTags('team/app')).toEqual(['latest', 'v1', 'v10', 'v2']);
      expect(await repository.listTags('a/tool')).toEqual(['1.0']);
      await rejection(repository.listTags('team/nothing'), 'NAME_UNKNOWN');
    });

    it('lists the images it served in the catalog, sorted', async () => {
      const repository = await open();
      const names = CONTRACT_CONTENT.map((image) => image.name);
      for (const image of CONTRACT_CONTENT) {
        const tagged = image.manifests.find((m) => m.tags.length > 0)!;
        await repository.getManifest(image.name, tagged.tags[0]!);
      }
      const images = await repository.listImages();
      expect(images).toEqual(expect.arrayContaining(names));
      expect(images).toEqual([...images].sort());
      expect(images).not.toContain('team/nothing');
    });

    it('lists referrers of a subject, filtered by artifact type', async () => {
      const repository = await open();
      const { subject, signature } = contract.signed;
      expect(await repository.listReferrers('signed', subject.digest)).toEqual([
        expect.objectContaining({
          mediaType: OCI_MANIFEST,
          digest: signature.digest,
          size: signature.body.length,
          artifactType: SIGNATURE_TYPE,
        }),
      ]);
      expect(await repository.listReferrers('signed', subject.digest, SIGNATURE_TYPE)).toHaveLength(1);
      expect(await repository.listReferrers('signed', subject.digest, 'application/vnd.other')).toEqual([]);
      expect(await repository.listReferrers('signed', digestOf('none'))).toEqual([]);
      expect(await repository.listReferrers('team/app', contract.app.v1.digest)).toEqual([]);
    });
  });
}
