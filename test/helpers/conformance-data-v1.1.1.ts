/**
 * The test data of the OCI distribution-spec conformance suite, release v1.1.1 (`conformance/setup.go`
 * init()), for `test/e2e/oci-conformance-v1.1.1.test.ts`: its default names, and payloads of its
 * shapes (MarshalIndent'ed JSON with tabs; config descriptors carrying `data` and an unknown field;
 * 42-byte random blobs, one split in two Content-Range chunks; the empty JSON blob; artifact
 * manifests and an index with `subject`, each annotated, the annotation recorded by digest).
 */
import { randomBytes } from 'node:crypto';
import { sha256 as sha } from './oci-image.ts';

/** OCI_NAMESPACE's default. */
export const NAMESPACE = 'myorg/myrepo';
/**
 * OCI_CROSSMOUNT_NAMESPACE as docs/conformance.md sets it (a two-segment name, like the namespace);
 * unset, the suite uses `conformance-<uuid>`, a one-segment name that the minimal example serves
 * just as well.
 */
export const CROSSMOUNT = 'myorg/other';
export const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX = 'application/vnd.oci.image.index.v1+json';
export const ANNOTATION = 'org.opencontainers.conformance.test';

/** Go's json.MarshalIndent(v, "", "\t"). */
const indent = (v: unknown) => Buffer.from(JSON.stringify(v, null, '\t'));
const desc = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha(b), size: b.length });

export const configs = Array.from({ length: 16 }, () =>
  indent({
    author: randomBytes(8).toString('hex'),
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  }),
);
export const layer = Buffer.from(
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
    'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
    'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA',
  'base64',
);
const layerDesc = desc('application/vnd.oci.image.layer.v1.tar+gzip', layer);
const configDesc = (c: Buffer) => ({
  ...desc('application/vnd.oci.image.config.v1+json', c),
  data: c.toString('base64'),
  newUnspecifiedField: Buffer.from('hello world').toString('base64'),
});
export const manifests = configs.map((c) =>
  indent({ schemaVersion: 2, mediaType: MANIFEST, config: configDesc(c), layers: [layerDesc] }),
);
export const emptyLayerManifest = indent({ schemaVersion: 2, config: configDesc(configs[1]!), layers: [] });
export const blobA = randomBytes(42);
export const blobB = randomBytes(42);
export const chunk1 = blobB.subarray(0, 22);
export const chunk2 = blobB.subarray(22);
export const range1 = `0-${chunk1.length - 1}`;
export const range2 = `${chunk1.length}-${blobB.length - 1}`;
export const emptyJson = Buffer.from('{}');
const emptyDesc = desc('application/vnd.oci.empty.v1+json', emptyJson);
export const refBlobA = Buffer.from('NHL Peanut Butter on my NHL bagel');
export const refBlobB = Buffer.from('NBA Strawberry Jam on my NBA croissant');
export const typeA = 'application/vnd.nhl.peanut.butter.bagel';
const typeB = 'application/vnd.nba.strawberry.jam.croissant';
const subject4 = desc(MANIFEST, manifests[4]!);
export const annotations = new Map<string, string>();
const artifact = (body: Record<string, unknown>, note?: string) => {
  const bytes = indent({ schemaVersion: 2, ...body, ...(note ? { annotations: { [ANNOTATION]: note } } : {}) });
  if (note) annotations.set(sha(bytes), note);
  return bytes;
};
export const refAConfig = artifact(
  { mediaType: MANIFEST, config: desc(typeA, refBlobA), subject: subject4, layers: [emptyDesc] },
  'test config a',
);
export const refBConfig = artifact(
  { mediaType: MANIFEST, config: desc(typeB, refBlobB), subject: subject4, layers: [emptyDesc] },
  'test config b',
);
export const refALayer = artifact(
  { mediaType: MANIFEST, artifactType: typeA, config: emptyDesc, subject: subject4, layers: [desc(typeA, refBlobA)] },
  'test layer a',
);
export const refBLayer = artifact(
  { mediaType: MANIFEST, artifactType: typeB, config: emptyDesc, subject: subject4, layers: [desc(typeB, refBlobB)] },
  'test layer b',
);
export const refCLayer = artifact({
  mediaType: MANIFEST,
  artifactType: typeB,
  config: emptyDesc,
  subject: desc(MANIFEST, manifests[3]!),
  layers: [desc(typeB, refBlobB)],
});
export const refIndex = artifact(
  {
    mediaType: INDEX,
    artifactType: 'application/vnd.food.stand',
    manifests: [desc(MANIFEST, refAConfig), desc(MANIFEST, refALayer)],
    subject: subject4,
  },
  'test index',
);
export const dummyDigest = sha('hello world');
