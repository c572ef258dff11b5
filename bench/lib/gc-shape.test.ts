/** The garbage-collection benchmark's store shape: counts, garbage, bytes and distribution's layout. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blobBytes, buildGcShape, distributionLayout, shapeBlobs } from './gc-shape.ts';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('buildGcShape', () => {
  const shape = buildGcShape({ manifests: 80, orphans: 40, tagsPerImage: 20 });

  it('has 4.25 blobs per manifest plus the orphans, in images of tagsPerImage', () => {
    expect(shape.blobCount).toBe(80 * 4 + 80 / 4 + 40);
    expect(shape.images).toHaveLength(4);
    expect(new Set(shape.manifests.map((m) => `${m.image}:${m.tag}`)).size).toBe(80);
    expect(shape.manifests.filter((m) => m.fate === 'untagged')).toHaveLength(5);
    expect(shape.manifests.filter((m) => m.fate === 'deleted')).toHaveLength(5);
  });

  it('counts as garbage the four own blobs of each garbage manifest and the orphans, never a base layer', () => {
    expect(shape.garbage.untaggedIncluded.blobs).toBe(10 * 4 + 40);
    expect(shape.garbage.untaggedKept.blobs).toBe(5 * 4 + 40);
    const garbageBytes = shape.manifests
      .filter((m) => m.fate !== 'tagged')
      .reduce(
        (sum, m) =>
          sum + m.bytes.length + m.references.filter((r) => !r.id.startsWith('base-')).reduce((s, r) => s + r.size, 0),
        0,
      );
    const orphanBytes = shape.orphans.reduce((sum, o) => sum + o.size, 0);
    expect(shape.garbage.untaggedIncluded.bytes).toBe(garbageBytes + orphanBytes);
  });

  it('shares each base layer between four consecutive manifests', () => {
    const base = (i: number) => shape.manifests[i]?.references[1]?.digest;
    expect(base(0)).toBe(base(3));
    expect(base(3)).not.toBe(base(4));
    expect(shape.manifests[0]?.references[2]?.digest).not.toBe(shape.manifests[1]?.references[2]?.digest);
  });

  it('is deterministic, and every blob hashes to its digest', () => {
    const again = buildGcShape({ manifests: 80, orphans: 40, tagsPerImage: 20 });
    expect(again.manifests.map((m) => m.digest)).toEqual(shape.manifests.map((m) => m.digest));
    const blobs = [...shapeBlobs(shape)];
    expect(blobs).toHaveLength(shape.blobCount);
    for (const blob of blobs) expect(sha256(blob.bytes())).toBe(blob.digest);
    expect(blobBytes('layer-1-a').equals(blobBytes('layer-1-a'))).toBe(true);
  });

  it('rejects a manifest count that is not a positive multiple of 16', () => {
    expect(() => buildGcShape({ manifests: 24, orphans: 0 })).toThrow(/multiple of 16/);
    expect(() => buildGcShape({ manifests: 16, orphans: -1 })).toThrow(/orphans/);
  });
});

describe('distributionLayout', () => {
  const shape = buildGcShape({ manifests: 16, orphans: 4, tagsPerImage: 8 });
  const entries = [...distributionLayout(shape, 'bench')];
  const paths = entries.map((e) => e.path);

  it('stores each blob once under blobs/sha256/<2 hex>/<hex>/data', () => {
    const data = entries.filter((e) => e.path.endsWith('/data'));
    expect(data).toHaveLength(shape.blobCount);
    for (const entry of data) {
      const hex = /blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\/data$/.exec(entry.path);
      expect(hex?.[2]?.startsWith(hex[1] ?? '')).toBe(true);
      expect(sha256(entry.content())).toBe(`sha256:${hex?.[2]}`);
    }
  });

  it('links revisions of tagged and untagged manifests, tags only the tagged ones', () => {
    const untagged = shape.manifests.find((m) => m.fate === 'untagged')!;
    const deleted = shape.manifests.find((m) => m.fate === 'deleted')!;
    const tagged = shape.manifests.find((m) => m.fate === 'tagged')!;
    const revision = (m: typeof tagged) =>
      `docker/registry/v2/repositories/bench/${m.image}/_manifests/revisions/sha256/${m.digest.slice(7)}/link`;
    expect(paths).toContain(revision(untagged));
    expect(paths).toContain(revision(tagged));
    expect(paths).not.toContain(revision(deleted));
    const current = entries.find(
      (e) =>
        e.path === `docker/registry/v2/repositories/bench/${tagged.image}/_manifests/tags/${tagged.tag}/current/link`,
    );
    expect(current?.content().toString()).toBe(tagged.digest);
    expect(paths.filter((p) => p.endsWith('/current/link'))).toHaveLength(14);
    expect(paths.some((p) => p.includes(`/_manifests/tags/${untagged.tag}/`) && p.includes(untagged.image))).toBe(
      false,
    );
  });

  it('links every layer of every manifest and every orphan into its image', () => {
    const layerLinks = paths.filter((p) => p.includes('/_layers/'));
    expect(layerLinks).toHaveLength(16 * 4 + 4);
    const orphan = shape.orphans[0]!;
    expect(paths).toContain(
      `docker/registry/v2/repositories/bench/${orphan.image}/_layers/sha256/${orphan.digest.slice(7)}/link`,
    );
  });
});
