/**
 * The data sets of the OCI distribution-spec conformance runner on the spec's main branch
 * (`conformance/testdata.go`), for `test/e2e/oci-conformance-main-*.test.ts`: generated like its
 * GenerateData (random content, the same shapes), with the runner's default repository names.
 *
 * A {@link DataSet} is what one case pushes: its blobs, its manifests in push order, its tags, and
 * the referrers each subject must list afterwards.
 */
import { randomBytes } from 'node:crypto';
import { sha256 as sha } from './oci-image.ts';

/** OCI_REPO1 and OCI_REPO2 as the runner defaults them. */
export const REPO1 = 'conformance/repo1';
export const REPO2 = 'conformance/repo2';
export const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX = 'application/vnd.oci.image.index.v1+json';
export const EMPTY = 'application/vnd.oci.empty.v1+json';
const EXAMPLE = 'application/vnd.example.oci.conformance.v1';

/** A descriptor as the data sets write them into manifests and indexes. */
export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  data?: string;
  platform?: { os: string; architecture: string };
}
/** A descriptor the referrers API must list for a subject. */
export interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string;
  annotations?: Record<string, string>;
}
/** The blobs, manifests (in push order), tags and expected referrers of one data set. */
export class DataSet {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests: { digest: string; body: Buffer; mediaType: string; subject?: string }[] = [];
  readonly tags = new Map<string, string>();
  readonly referrers = new Map<string, Referrer[]>();
  blob(body: Buffer, mediaType: string): Desc {
    this.blobs.set(sha(body), body);
    return { mediaType, digest: sha(body), size: body.length };
  }
  config(platform = { os: 'linux', architecture: 'amd64' }, extra = false): Desc {
    const body = Buffer.from(
      JSON.stringify({
        ...platform,
        rootfs: { type: 'layers', diff_ids: [] },
        ...(extra ? { [`x-${randomBytes(4).toString('hex')}`]: 'custom' } : {}),
      }),
    );
    return this.blob(body, 'application/vnd.oci.image.config.v1+json');
  }
  manifest(
    o: {
      config?: Desc;
      layers?: Desc[];
      artifactType?: string;
      subject?: Desc;
      annotations?: Record<string, string>;
      tag?: string;
      extra?: boolean;
      data?: boolean;
    } = {},
  ): Desc {
    const config = o.config ?? this.config(undefined, o.extra);
    const layers =
      o.layers ?? [0, 1].map(() => this.blob(randomBytes(256), 'application/vnd.oci.image.layer.v1.tar+gzip'));
    const withData = (d: Desc) =>
      o.data && this.blobs.has(d.digest) ? { ...d, data: this.blobs.get(d.digest)!.toString('base64') } : d;
    const m = {
      schemaVersion: 2,
      mediaType: IMAGE,
      ...(o.artifactType ? { artifactType: o.artifactType } : {}),
      config: withData(config),
      layers: layers.map(withData),
      ...(o.subject ? { subject: o.subject } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.extra ? { [`x-${randomBytes(4).toString('hex')}`]: 'custom' } : {}),
    };
    return this.add(Buffer.from(JSON.stringify(m)), IMAGE, o.artifactType ?? config.mediaType, o);
  }
  index(
    children: Desc[],
    o: {
      artifactType?: string;
      subject?: Desc;
      annotations?: Record<string, string>;
      tag?: string;
      extra?: boolean;
    } = {},
  ): Desc {
    const ind = {
      schemaVersion: 2,
      mediaType: INDEX,
      ...(o.artifactType ? { artifactType: o.artifactType } : {}),
      manifests: children,
      ...(o.subject ? { subject: o.subject } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.extra ? { [`x-${randomBytes(4).toString('hex')}`]: 'custom' } : {}),
    };
    return this.add(Buffer.from(JSON.stringify(ind)), INDEX, o.artifactType ?? '', o);
  }
  imageIndex(
    platforms: { os: string; architecture: string }[],
    o: Parameters<DataSet['manifest']>[0] & { indexTag?: string } = {},
  ): Desc {
    const children = platforms.map((p) => ({
      ...this.manifest({
        ...o,
        tag: undefined,
        subject: undefined,
        annotations: undefined,
        config: o.artifactType ? o.config : this.config(p, o.extra),
      }),
      platform: p,
    }));
    return this.index(children, {
      artifactType: o.artifactType,
      subject: o.subject,
      annotations: o.annotations,
      tag: o.indexTag,
      extra: o.extra,
    });
  }
  #uniq = 0;
  annotations(): Record<string, string> {
    return {
      'org.opencontainers.conformance': 'hello conformance test',
      [`org.opencontainers.conformance.uniq.${this.#uniq++}`]: randomBytes(4).toString('hex'),
    };
  }
  add(
    body: Buffer,
    mediaType: string,
    artifactType: string,
    o: { subject?: Desc; annotations?: Record<string, string>; tag?: string },
  ): Desc {
    const digest = sha(body);
    this.manifests.push({ digest, body, mediaType, subject: o.subject?.digest });
    if (o.tag) this.tags.set(o.tag, digest);
    if (o.subject) {
      const list = this.referrers.get(o.subject.digest) ?? [];
      list.push({
        mediaType,
        digest,
        size: body.length,
        artifactType,
        ...(o.annotations ? { annotations: o.annotations } : {}),
      });
      this.referrers.set(o.subject.digest, list);
    }
    return { mediaType, digest, size: body.length };
  }
}
const amd64arm64 = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];
const emptyConfig = (d: DataSet) => d.blob(Buffer.from('{}'), EMPTY);
/** A data set made fresh on each call by `build`. */
const dataSet = (build: (d: DataSet) => void) => (): DataSet => {
  const d = new DataSet();
  build(d);
  return d;
};
/** One artifact manifest (empty config, one example layer) per platform of `amd64arm64`. */
const artifactPerPlatform = (d: DataSet) =>
  amd64arm64.map((p) => ({
    ...d.manifest({ artifactType: EXAMPLE, config: emptyConfig(d), layers: [d.blob(randomBytes(256), EXAMPLE)] }),
    platform: p,
  }));
/** The runner's data sets by name, each made fresh (random content) when called. */
export const dataSets: [string, () => DataSet][] = [
  [
    'image',
    dataSet((d) => {
      d.manifest({ tag: 'image' });
    }),
  ],
  [
    'image-uncompressed',
    dataSet((d) => {
      d.manifest({
        tag: 'image-uncompressed',
        layers: [0, 1].map(() => d.blob(randomBytes(256), 'application/vnd.oci.image.layer.v1.tar')),
      });
    }),
  ],
  [
    'large-manifest (390 annotations of 10000 bytes)',
    dataSet((d) => {
      const annotations = Object.fromEntries(
        Array.from({ length: 390 }, (_, i) => [`large-annotation-${i}`, 'A'.repeat(10_000)]),
      );
      d.manifest({ tag: 'large-manifest', annotations });
    }),
  ],
  [
    'index',
    dataSet((d) => {
      d.imageIndex(amd64arm64, { indexTag: 'index' });
    }),
  ],
  [
    'nested-index',
    dataSet((d) => {
      const a = d.imageIndex(amd64arm64);
      const b = d.imageIndex(amd64arm64);
      d.index([a, b], { tag: 'index-of-index' });
    }),
  ],
  [
    'empty-index',
    dataSet((d) => {
      d.index([], { tag: 'index' });
    }),
  ],
  [
    'artifact',
    dataSet((d) => {
      d.manifest({
        tag: 'artifact',
        artifactType: EXAMPLE,
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), EXAMPLE)],
      });
    }),
  ],
  [
    'artifact-index',
    dataSet((d) => {
      const kids = artifactPerPlatform(d);
      d.index(kids, { tag: 'artifact-index', artifactType: EXAMPLE });
    }),
  ],
  [
    'artifact-without-layers',
    dataSet((d) => {
      d.manifest({
        tag: 'artifact-without-layers',
        artifactType: EXAMPLE,
        config: emptyConfig(d),
        layers: [d.blob(Buffer.from('{}'), EMPTY)],
      });
    }),
  ],
  [
    'artifacts-with-subject',
    dataSet((d) => {
      const subject = d.manifest({ tag: 'image' });
      d.manifest({ subject });
      d.manifest({
        subject,
        artifactType: EXAMPLE,
        annotations: d.annotations(),
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), EXAMPLE)],
        tag: 'tagged-artifact1',
      });
      d.manifest({
        subject,
        artifactType: `${EXAMPLE}.two`,
        annotations: d.annotations(),
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), 'application/octet-stream')],
        tag: 'tagged-artifact2',
      });
    }),
  ],
  [
    'index-with-subject',
    dataSet((d) => {
      const subject = d.imageIndex(amd64arm64, { indexTag: 'index' });
      const kids = artifactPerPlatform(d);
      d.index(kids, { subject, artifactType: EXAMPLE, annotations: d.annotations(), tag: 'tagged-artifact' });
    }),
  ],
  [
    'missing-subject',
    dataSet((d) => {
      const subject = { mediaType: IMAGE, size: 123, digest: sha('missing content') };
      d.manifest({
        subject,
        artifactType: EXAMPLE,
        annotations: d.annotations(),
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), EXAMPLE)],
        tag: 'tagged-artifact',
      });
    }),
  ],
  [
    'data-field',
    dataSet((d) => {
      d.manifest({ tag: 'data-field', data: true });
    }),
  ],
  [
    'non-distributable-layers',
    dataSet((d) => {
      const foreign = (mediaType: string, size: number): Desc => {
        const digest = sha(randomBytes(256));
        return { mediaType, digest, size, urls: [`https://store.example.com/blobs/sha256/${digest.slice(7)}`] };
      };
      const layers = [
        foreign('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 123456),
        foreign('application/vnd.oci.image.layer.nondistributable.v1.tar', 12345),
        d.blob(randomBytes(256), 'application/vnd.oci.image.layer.v1.tar+gzip'),
      ];
      d.manifest({ tag: 'non-distributable-image', layers });
    }),
  ],
  [
    'custom-fields',
    dataSet((d) => {
      d.imageIndex(amd64arm64, { indexTag: 'custom-fields', extra: true });
    }),
  ],
  [
    'no-layers',
    dataSet((d) => {
      d.manifest({ tag: 'no-layers', layers: [] });
    }),
  ],
  [
    'empty-blob',
    dataSet((d) => {
      d.manifest({ tag: 'empty-blob', layers: [d.blob(Buffer.alloc(0), 'application/vnd.oci.image.layer.v1.tar')] });
    }),
  ],
];
