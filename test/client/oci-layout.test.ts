import { describe, expect, it } from 'vitest';
import {
  type BundleListing,
  blobEntryName,
  digestOfEntry,
  layoutIndex,
  listingProblem,
  refName,
} from '../../client/oci-layout.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

const listing: BundleListing = {
  bundleVersion: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  source: 'http://127.0.0.1:5000',
  platforms: null,
  images: [
    { ref: 'app:1', name: 'app', tag: '1', digest: A, mediaType: 'm', size: 3, platforms: [], referrers: [C] },
    { ref: `app@${A}`, name: 'app', tag: null, digest: A, mediaType: 'm', size: 3, platforms: [], referrers: [C] },
  ],
  manifests: [
    { digest: A, mediaType: 'm', size: 2, names: ['app'] },
    { digest: C, mediaType: 'r', size: 4, names: ['app'] },
  ],
  blobs: [{ digest: B, mediaType: 'l', size: 1, names: ['app'] }],
};

describe('bundle entries', () => {
  it('names blobs by algorithm and hex, and reads the names back (./ allowed, others not)', () => {
    expect(blobEntryName(A)).toBe(`blobs/sha256/${'a'.repeat(64)}`);
    expect(digestOfEntry(`./blobs/sha256/${'a'.repeat(64)}`)).toBe(A);
    expect(digestOfEntry('blobs/sha256/zz')).toBeUndefined();
    expect(digestOfEntry('index.json')).toBeUndefined();
    expect(refName('a/b', null, A)).toBe(`a/b@${A}`);
  });

  it('writes index.json with a ref name per image and each referrer once, unnamed', () => {
    const index = JSON.parse(layoutIndex(listing).toString());
    expect(index.manifests).toEqual([
      { mediaType: 'm', digest: A, size: 2, annotations: { 'org.opencontainers.image.ref.name': 'app:1' } },
      { mediaType: 'm', digest: A, size: 2, annotations: { 'org.opencontainers.image.ref.name': `app@${A}` } },
      { mediaType: 'r', digest: C, size: 4 },
    ]);
  });

  it('accepts its own listing and says what is wrong with others', () => {
    expect(listingProblem(JSON.parse(JSON.stringify(listing)))).toBeUndefined();
    expect(listingProblem({ ...listing, bundleVersion: 2 })).toMatch(/bundleVersion 2 is not 1/);
    expect(listingProblem({ ...listing, blobs: [{ digest: 'x', size: 1, names: ['app'] }] })).toMatch(/entry 2/);
    expect(listingProblem({ ...listing, images: [{ ...listing.images[0], digest: B }] })).toMatch(/no manifest/);
    expect(listingProblem(null)).toBe('it is not a JSON object');
  });
});
