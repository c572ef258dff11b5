import { describe, expect, it } from 'vitest';
import { openHostedMetadata } from '../../../runtime/repository/hosted-metadata.ts';
import { ImageMetadata } from '../../../runtime/repository/metadata.ts';
import { digestOf } from '../../../runtime/storage/digest.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';

const a = digestOf('a');
const b = digestOf('b');
const c = digestOf('c', 'sha512');

describe('ImageMetadata', () => {
  it('sets, lists (sorted), and deletes tags per image', async () => {
    const meta = new ImageMetadata(createMemoryBlobStore(), 'private');
    await meta.setTag('app', 'v2', a);
    await meta.setTag('app', 'v10', b);
    await meta.setTag('app', 'latest', b);
    expect(await meta.listTags('app')).toEqual(['latest', 'v10', 'v2']);
    expect(await meta.getTag('app', 'v2')).toBe(a);
    await meta.deleteTag('app', 'v2');
    expect(await meta.getTag('app', 'v2')).toBeUndefined();
    expect(await meta.listTags('other')).toEqual([]);
  });

  it('links manifests and blobs per image, including sha512 digests', async () => {
    const meta = new ImageMetadata(createMemoryBlobStore(), 'private');
    await meta.linkManifest('app', a, { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10 });
    await meta.linkBlob('app', c);
    expect(await meta.getManifest('app', a)).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 10,
    });
    expect(await meta.hasManifest('other', a)).toBe(false);
    expect(await meta.hasBlob('app', c)).toBe(true);
    expect(await meta.hasBlob('app', a)).toBe(false);
    await meta.unlinkBlob('app', c);
    await meta.unlinkManifest('app', a);
    expect(await meta.hasBlob('app', c)).toBe(false);
    expect(await meta.hasManifest('app', a)).toBe(false);
  });

  it('keeps repositories sharing a store apart', async () => {
    const store = createMemoryBlobStore();
    await new ImageMetadata(store, 'one').linkBlob('app', a);
    const two = new ImageMetadata(store, 'two');
    expect(await two.hasBlob('app', a)).toBe(false);
    expect(await two.listImages()).toEqual([]);
  });

  it('adds, lists and removes referrers with their descriptors', async () => {
    const meta = new ImageMetadata(createMemoryBlobStore(), 'private');
    const sig = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: b, size: 3, artifactType: 'sig' };
    const sbom = { ...sig, digest: c, artifactType: 'sbom', annotations: { x: 'y' } };
    await meta.addReferrer('app', a, sbom);
    await meta.addReferrer('app', a, sig);
    expect(await meta.listReferrers('app', a)).toEqual([sig, sbom].sort((x, y) => (x.digest < y.digest ? -1 : 1)));
    await meta.removeReferrer('app', a, b);
    expect(await meta.listReferrers('app', a)).toEqual([sbom]);
  });

  it('lists the catalog sorted with nested names and deletes one image without its nested one', async () => {
    const meta = new ImageMetadata(createMemoryBlobStore(), 'private');
    await meta.setTag('team/app', 'v1', a);
    await meta.setTag('team', 'v1', a);
    await meta.linkBlob('alpha', b);
    expect(await meta.listImages()).toEqual(['alpha', 'team', 'team/app']);
    await meta.deleteImage('team');
    expect(await meta.listImages()).toEqual(['alpha', 'team/app']);
    expect(await meta.getTag('team', 'v1')).toBeUndefined();
    expect(await meta.getTag('team/app', 'v1')).toBe(a);
  });

  it('keeps proxy cache records: tags with checkedAt and expiring negative entries', async () => {
    const meta = new ImageMetadata(createMemoryBlobStore(), 'hub');
    await meta.setCachedTag('library/alpine', 'latest', { digest: a, mediaType: 'm', checkedAt: 1000 });
    expect(await meta.getCachedTag('library/alpine', 'latest')).toEqual({ digest: a, mediaType: 'm', checkedAt: 1000 });
    await meta.setNegative('library/alpine', 'missing', 5000);
    expect(await meta.isNegative('library/alpine', 'missing', 4999)).toBe(true);
    expect(await meta.isNegative('library/alpine', 'missing', 5000)).toBe(false);
    await meta.setNegative('library/alpine', b, 5000);
    expect(await meta.isNegative('library/alpine', b, 0)).toBe(true);
    await meta.clearNegative('library/alpine', 'missing');
    expect(await meta.isNegative('library/alpine', 'missing', 0)).toBe(false);
  });

  it('reads what hosted-metadata.ts wrote (same layout)', async () => {
    const store = createMemoryBlobStore();
    const hosted = openHostedMetadata(store, 'private');
    await hosted.setTag('team/app', 'v1', a);
    await hosted.linkBlob('team/app', b);
    await hosted.linkManifest('team/app', a, { mediaType: 'm' });
    const meta = new ImageMetadata(store, 'private');
    expect(await meta.listImages()).toEqual(['team/app']);
    expect(await meta.getTag('team/app', 'v1')).toBe(a);
    expect(await meta.hasBlob('team/app', b)).toBe(true);
    expect(await meta.getManifest('team/app', a)).toEqual({ mediaType: 'm' });
  });
});
