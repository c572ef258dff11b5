import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../../runtime/oci/errors.ts';
import { MAX_MANIFEST_BYTES, parseManifest, referrerDescriptor } from '../../../runtime/oci/manifest.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../../runtime/oci/media-types.ts';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const CONFIG = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('config'), size: 6 };
const LAYER = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('layer'), size: 5 };

function body(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Runs `fn` and returns the RegistryError it throws (fails the test when it does not). */
function thrown(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryError);
    return error as RegistryError;
  }
  throw new Error('expected a RegistryError');
}

describe('parseManifest: media types', () => {
  const image = { schemaVersion: 2, config: CONFIG, layers: [LAYER] };

  it('takes the media type from Content-Type when the body has none (umoci)', () => {
    const parsed = parseManifest(body(image), `${OCI_MANIFEST}; charset=utf-8`);
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
    expect(parsed.kind).toBe('image');
    expect(parsed.blobs.map((b) => b.digest)).toEqual([CONFIG.digest, LAYER.digest]);
    expect(parsed.manifests).toEqual([]);
  });

  it('falls back to the body mediaType when Content-Type is generic or absent', () => {
    const bytes = body({ ...image, mediaType: DOCKER_MANIFEST });
    expect(parseManifest(bytes, 'application/json').mediaType).toBe(DOCKER_MANIFEST);
    expect(parseManifest(bytes, '').mediaType).toBe(DOCKER_MANIFEST);
  });

  it('refuses a Content-Type that disagrees with the body', () => {
    const error = thrown(() => parseManifest(body({ ...image, mediaType: OCI_MANIFEST }), DOCKER_MANIFEST));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toMatch(/does not match/);
  });

  it('refuses a manifest whose media type is nowhere', () => {
    const error = thrown(() => parseManifest(body(image), ''));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toMatch(/media type is unknown/);
  });

  it('refuses unknown manifest media types', () => {
    const error = thrown(() => parseManifest(body(image), 'application/vnd.oci.artifact.manifest.v1+json'));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toMatch(/unsupported manifest media type/);
  });

  it.each([
    ['the schema 1 Content-Type', DOCKER_SCHEMA1, {}],
    ['the signed schema 1 Content-Type', DOCKER_SCHEMA1_SIGNED, {}],
    ['schemaVersion 1 in the body', '', { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }],
  ])('refuses Docker schema 1 (%s) and says how to convert', (_name, contentType, extra) => {
    const error = thrown(() => parseManifest(body({ schemaVersion: 1, ...extra }), contentType));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/schema 1 manifests are not supported/);
    expect(error.message).toMatch(/skopeo copy --format v2s2/);
  });
});

describe('parseManifest: validation', () => {
  it('refuses invalid JSON and non-objects', () => {
    expect(thrown(() => parseManifest(Buffer.from('{nope'), OCI_MANIFEST)).message).toMatch(/not valid JSON/);
    expect(thrown(() => parseManifest(Buffer.from('[1]'), OCI_MANIFEST)).message).toMatch(/JSON object/);
  });

  it('requires schemaVersion 2', () => {
    const error = thrown(() => parseManifest(body({ schemaVersion: 3, config: CONFIG, layers: [] }), OCI_MANIFEST));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toMatch(/schemaVersion must be 2/);
  });

  it('validates descriptors: digest, size, media type', () => {
    const bad = (layer: object) =>
      thrown(() => parseManifest(body({ schemaVersion: 2, config: CONFIG, layers: [layer] }), OCI_MANIFEST));
    expect(bad({ ...LAYER, digest: 'sha256:xyz' }).message).toBe('layers[0].digest is not a valid digest');
    expect(bad({ ...LAYER, size: -1 }).message).toBe('layers[0].size must be a non-negative integer');
    expect(bad({ ...LAYER, size: 1.5 }).message).toBe('layers[0].size must be a non-negative integer');
    expect(bad({ ...LAYER, mediaType: 'nope' }).message).toBe('layers[0].mediaType must be a media type');
    expect(bad({ ...LAYER, annotations: { a: 1 } }).message).toMatch(/annotations must be an object of string/);
    const noConfig = thrown(() => parseManifest(body({ schemaVersion: 2, layers: [] }), OCI_MANIFEST));
    expect(noConfig.message).toBe('config must be a descriptor object');
    const noLayers = thrown(() => parseManifest(body({ schemaVersion: 2, config: CONFIG }), OCI_MANIFEST));
    expect(noLayers.message).toBe('layers must be an array of descriptors');
  });

  it('refuses the fields of the other shape', () => {
    const index = { schemaVersion: 2, manifests: [], config: CONFIG };
    expect(thrown(() => parseManifest(body(index), OCI_INDEX)).message).toMatch(/not config or layers/);
    const image = { schemaVersion: 2, manifests: [], config: CONFIG, layers: [] };
    expect(thrown(() => parseManifest(body(image), OCI_MANIFEST)).message).toMatch(/no manifests field/);
  });

  it('parses an index and a Docker manifest list', () => {
    const child = { mediaType: OCI_MANIFEST, digest: sha('child'), size: 10, platform: { os: 'linux' } };
    for (const type of [OCI_INDEX, DOCKER_MANIFEST_LIST]) {
      const parsed = parseManifest(body({ schemaVersion: 2, mediaType: type, manifests: [child] }), type);
      expect(parsed.kind).toBe('index');
      expect(parsed.blobs).toEqual([]);
      expect(parsed.manifests).toEqual([{ mediaType: OCI_MANIFEST, digest: child.digest, size: 10 }]);
    }
  });

  it('does not ask for foreign layers that live at their urls', () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: sha('windows'),
      size: 100,
      urls: ['https://example.test/layer'],
    };
    const parsed = parseManifest(body({ schemaVersion: 2, config: CONFIG, layers: [foreign, LAYER] }), DOCKER_MANIFEST);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([CONFIG.digest, LAYER.digest]);
  });

  it('enforces the size limit with 413', () => {
    const huge = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    const error = thrown(() => parseManifest(huge, OCI_MANIFEST));
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.status).toBe(413);
  });
});

describe('parseManifest: digests and referrers', () => {
  it('digests the exact bytes and checks a PUT by digest', () => {
    const bytes = Buffer.from(`{ "schemaVersion": 2, "config": ${JSON.stringify(CONFIG)}, "layers": [] }`);
    const expected = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    expect(parseManifest(bytes, OCI_MANIFEST).digest).toBe(expected);
    expect(parseManifest(bytes, OCI_MANIFEST, expected).digest).toBe(expected);
    const error = thrown(() => parseManifest(bytes, OCI_MANIFEST, sha('other')));
    expect(error.code).toBe('DIGEST_INVALID');
    expect(error.detail).toEqual({ expected: sha('other'), actual: expected });
  });

  it('digests with sha512 when pushed by a sha512 digest', () => {
    const bytes = body({ schemaVersion: 2, config: CONFIG, layers: [] });
    const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
    expect(parseManifest(bytes, OCI_MANIFEST, sha512).digest).toBe(sha512);
  });

  it('records subject, artifactType (or the config media type) and annotations', () => {
    const subject = { mediaType: OCI_MANIFEST, digest: sha('subject'), size: 3 };
    const signature = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha('{}'), size: 2 },
      layers: [],
      subject,
      annotations: { 'org.example': 'yes' },
    };
    const parsed = parseManifest(body(signature), OCI_MANIFEST);
    expect(parsed.subject).toEqual(subject);
    expect(referrerDescriptor(parsed)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: parsed.digest,
      size: parsed.size,
      artifactType: 'application/vnd.example.signature',
      annotations: { 'org.example': 'yes' },
    });
    const sbom = {
      ...signature,
      artifactType: undefined,
      config: { ...CONFIG, mediaType: 'application/vnd.example.sbom' },
    };
    expect(parseManifest(body(sbom), OCI_MANIFEST).artifactType).toBe('application/vnd.example.sbom');
  });
});
