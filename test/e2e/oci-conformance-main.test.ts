/**
 * Replays the OCI distribution-spec conformance suite of the spec repository's main branch (the
 * rewritten runner: `conformance/run.go`, `api.go`, `testdata.go`) against a real `regctl serve`
 * of `examples/minimal`, with its default settings (OCI_REPO1=conformance/repo1,
 * OCI_REPO2=conformance/repo2, every API and data set enabled except sparse manifests and sha512).
 *
 * Written from a reading of that runner, not copied. Order: ping, empty repository, the blob APIs
 * (post only, post+put, chunked single/multi/out-of-order with and without the last chunk in the
 * PUT, stream, mount, anonymous mount, mount of a missing blob, cancel), range requests, the empty
 * and `{}` blobs, bad digests; then per data set push → tag list (+`last`) → HEAD → GET →
 * referrers → delete (tags, manifests in reverse push order, blobs); then manifest errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { REPO_ROOT, type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const REPO1 = 'conformance/repo1';
const REPO2 = 'conformance/repo2';
const CHUNK_MIN = 1024;
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const EXAMPLE = 'application/vnd.example.oci.conformance.v1';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const dirs = new TmpDirs();
let server: RegctlServer;

interface Res {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}
async function call(
  method: string,
  target: string,
  opts: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Res> {
  const headers = { ...(opts.headers ?? {}) };
  if (opts.body && headers['content-length'] === undefined) headers['content-length'] = String(opts.body.length);
  const res = await request(new URL(target, server.url), { method: method as 'GET', headers, body: opts.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  const flat: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: res.statusCode, headers: flat, body };
}
/** Resolves a Location against the request URL and adds `?digest=` (keeping the session's query). */
function withDigest(location: string | undefined, digest: string): string {
  expect(location, 'Location header').toBeTruthy();
  const u = new URL(location!, server.url);
  u.searchParams.set('digest', digest);
  return u.pathname + u.search;
}
const octet = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/octet-stream', ...extra });

/** The suite's check of a finished blob push: digest header (if any) and GET of the Location. */
async function verifyPushed(res: Res, blob: Buffer) {
  expect(res.status).toBe(201);
  if (res.headers['docker-content-digest']) expect(res.headers['docker-content-digest']).toBe(sha(blob));
  const get = await call('GET', new URL(res.headers.location!, server.url).pathname);
  expect(get.status).toBe(200);
  expect(get.body.equals(blob)).toBe(true);
}
async function postPut(repo: string, blob: Buffer, digest = sha(blob)) {
  const post = await call('POST', `/v2/${repo}/blobs/uploads/`);
  expect(post.status).toBe(202);
  return call('PUT', withDigest(post.headers.location, digest), { headers: octet(), body: blob });
}
async function postOnly(repo: string, blob: Buffer, digest = sha(blob)) {
  const post = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet(), body: blob });
  if (post.status !== 202) return post;
  return call('PUT', withDigest(post.headers.location, digest), { headers: octet(), body: blob });
}
async function stream(repo: string, blob: Buffer, digest = sha(blob)) {
  const post = await call('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
  expect(post.status).toBe(202);
  const patch = await call(
    'PATCH',
    new URL(post.headers.location!, server.url).pathname + new URL(post.headers.location!, server.url).search,
    { headers: octet(), body: blob },
  );
  expect(patch.status).toBe(202);
  return call('PUT', withDigest(patch.headers.location, digest), { headers: octet({ 'content-length': '0' }) });
}
/** The runner's chunked push: chunks of max(len/3+1, OCI-Chunk-Min-Length, 1024) with Content-Range. */
async function chunked(
  repo: string,
  blob: Buffer,
  flags: { putLast?: boolean; outOfOrder?: boolean; digest?: string } = {},
) {
  const digest = flags.digest ?? sha(blob);
  const post = await call('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
  expect(post.status).toBe(202);
  let loc = post.headers.location!;
  const min = Number(post.headers['oci-chunk-min-length'] ?? 0);
  const size = Math.min(Math.max(Math.floor(blob.length / 3) + 1, min, CHUNK_MIN), blob.length);
  let lastByte = -1;
  let res: Res | undefined;
  while (lastByte < blob.length - 1) {
    if (flags.outOfOrder) {
      let badStart = lastByte + 1 + size;
      if (badStart >= blob.length) badStart = 0;
      const badLast = Math.min(badStart + size - 1, blob.length - 1);
      const asPut = flags.putLast && badLast === blob.length - 1;
      const bad = await call(asPut ? 'PUT' : 'PATCH', asPut ? withDigest(loc, digest) : loc, {
        headers: octet({ 'content-range': `${badStart}-${badLast}` }),
        body: blob.subarray(badStart, badLast + 1),
      });
      expect(bad.status, `out-of-order ${badStart}-${badLast}`).toBe(416);
      if (bad.headers.location) loc = bad.headers.location;
      const status = await call('GET', loc);
      expect(status.status).toBe(204);
      if (status.headers.location) loc = status.headers.location;
      const range = status.headers.range ?? '';
      expect(range.startsWith('0-'), `Range ${range}`).toBe(true);
      expect(Number.isInteger(Number(range.slice(2))), `Range ${range}`).toBe(true);
      if (lastByte >= 0) expect(Number(range.slice(2))).toBe(lastByte);
    }
    const start = lastByte + 1;
    lastByte = Math.min(start + size - 1, blob.length - 1);
    const asPut = flags.putLast && lastByte === blob.length - 1;
    res = await call(asPut ? 'PUT' : 'PATCH', asPut ? withDigest(loc, digest) : loc, {
      headers: octet({ 'content-range': `${start}-${lastByte}` }),
      body: blob.subarray(start, lastByte + 1),
    });
    if (!asPut) {
      expect(res.status).toBe(202);
      loc = res.headers.location!;
    }
  }
  if (flags.putLast) return res!;
  return call('PUT', withDigest(loc, digest), { headers: octet({ 'content-length': '0' }) });
}
async function mount(repo: string, from: string | undefined, blob: Buffer) {
  const q = from ? `mount=${sha(blob)}&from=${encodeURIComponent(from)}` : `mount=${sha(blob)}`;
  const post = await call('POST', `/v2/${repo}/blobs/uploads/?${q}`);
  expect([201, 202]).toContain(post.status);
  expect(post.headers.location).toBeTruthy();
  if (post.status === 201) return { mounted: true, res: post };
  return {
    mounted: false,
    res: await call('PUT', withDigest(post.headers.location, sha(blob)), { headers: octet(), body: blob }),
  };
}
async function headAndGetBlob(repo: string, blob: Buffer) {
  const head = await call('HEAD', `/v2/${repo}/blobs/${sha(blob)}`);
  expect(head.status).toBe(200);
  expect(head.body.length).toBe(0);
  expect(head.headers['content-length']).toBe(String(blob.length));
  if (head.headers['docker-content-digest']) expect(head.headers['docker-content-digest']).toBe(sha(blob));
  const get = await call('GET', `/v2/${repo}/blobs/${sha(blob)}`);
  expect(get.status).toBe(200);
  expect(get.headers['content-length']).toBe(String(blob.length));
  expect(get.body.equals(blob)).toBe(true);
  if (get.headers['docker-content-digest']) expect(get.headers['docker-content-digest']).toBe(sha(blob));
}
async function deleteBlob(repo: string, blob: Buffer | string) {
  const d = typeof blob === 'string' ? blob : sha(blob);
  const del = await call('DELETE', `/v2/${repo}/blobs/${d}`);
  expect(del.status, `DELETE blob ${d}`).toBe(202);
  // OCI_API_BLOBS_ATOMIC defaults to true: the blob is gone at once.
  expect((await call('HEAD', `/v2/${repo}/blobs/${d}`)).status).toBe(404);
}

beforeAll(async () => {
  const source = await readFile(join(REPO_ROOT, 'examples/minimal/registry.config.ts'), 'utf8');
  const port = await freePort();
  const dir = await dirs.make();
  const configFile = join(dir, 'registry.config.ts');
  await writeFile(
    configFile,
    source
      .replace(/port: 5000/, `port: ${port}`)
      .replace(`from '../../schema/index.ts'`, `from ${JSON.stringify(join(REPO_ROOT, 'schema/index.ts'))}`),
  );
  server = await startRegctl({ dir, configFile, ports: [port] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe.sequential('OCI conformance (main): ping, empty repository, blob APIs', () => {
  it('ping: GET /v2/ → 200', async () => {
    expect((await call('GET', '/v2/')).status).toBe(200);
  });
  it('empty repository: tag list 200 or 404; referrers of an unknown digest: an empty OCI index', async () => {
    const tags = await call('GET', `/v2/${REPO1}/tags/list`);
    expect([200, 404]).toContain(tags.status);
    const refs = await call('GET', `/v2/${REPO1}/referrers/${sha('no such subject')}`);
    expect(refs.status).toBe(200);
    expect(refs.headers['content-type']).toBe(INDEX);
    const index = JSON.parse(refs.body.toString());
    expect(index).toMatchObject({ schemaVersion: 2, mediaType: INDEX, manifests: [] });
  });
  it('GET of a blob never pushed → 404', async () => {
    expect((await call('GET', `/v2/${REPO1}/blobs/${sha(randomBytes(512))}`)).status).toBe(404);
  });
  const cases: [string, (blob: Buffer) => Promise<void>][] = [
    ['post only', async (b) => verifyPushed(await postOnly(REPO1, b), b)],
    ['post+put', async (b) => verifyPushed(await postPut(REPO1, b), b)],
    ['chunked single', async (b) => verifyPushed(await chunked(REPO1, b), b)],
    ['stream', async (b) => verifyPushed(await stream(REPO1, b), b)],
    [
      'mount',
      async (b) => {
        await verifyPushed(await postPut(REPO2, b), b);
        const m = await mount(REPO1, REPO2, b);
        expect(m.mounted).toBe(true);
        await verifyPushed(m.res, b);
      },
    ],
    [
      'mount anonymous',
      async (b) => {
        await verifyPushed(await postPut(REPO2, b), b);
        const m = await mount(REPO1, undefined, b);
        await verifyPushed(m.res, b); // 202 + PUT is a skip in the suite, not a failure
      },
    ],
    [
      'mount missing',
      async (b) => {
        const m = await mount(REPO1, REPO2, b);
        expect(m.mounted, 'a blob missing from `from` must not mount').toBe(false);
        await verifyPushed(m.res, b);
      },
    ],
    ['chunked multi', async (b) => verifyPushed(await chunked(REPO1, b), b)],
    ['chunked multi and put chunk', async (b) => verifyPushed(await chunked(REPO1, b, { putLast: true }), b)],
    ['chunked out-of-order', async (b) => verifyPushed(await chunked(REPO1, b, { outOfOrder: true }), b)],
    [
      'chunked out-of-order and put chunk',
      async (b) => verifyPushed(await chunked(REPO1, b, { outOfOrder: true, putLast: true }), b),
    ],
  ];
  it.each(cases)('blob push: %s, then HEAD, GET, DELETE', async (name, push) => {
    const blob = randomBytes(
      name.startsWith('chunked multi') || name.startsWith('chunked out') ? CHUNK_MIN * 3 - 5 : 512,
    );
    await push(blob);
    await headAndGetBlob(REPO1, blob);
    await deleteBlob(REPO1, blob);
    if (name.startsWith('mount') && name !== 'mount missing') await deleteBlob(REPO2, blob);
  });
  it('blob push: post cancel → DELETE of the session 204', async () => {
    const post = await call('POST', `/v2/${REPO1}/blobs/uploads/`);
    expect(post.status).toBe(202);
    expect((await call('DELETE', post.headers.location!, { headers: { 'content-length': '0' } })).status).toBe(204);
  });
  it('range requests on a 2048-byte blob', async () => {
    const blob = randomBytes(2048);
    expect((await postPut(REPO1, blob)).status).toBe(201);
    const get = (range: string) => call('GET', `/v2/${REPO1}/blobs/${sha(blob)}`, { headers: { range } });
    for (const [range, from, to] of [
      ['bytes=500-1499', 500, 1499],
      ['bytes=500-', 500, 2047],
      ['bytes=-500', 1548, 2047],
      ['bytes=2000-5000', 2000, 2047],
    ] as const) {
      const res = await get(range);
      expect(res.status, range).toBe(206);
      expect(res.body.equals(blob.subarray(from, to + 1))).toBe(true);
      expect(res.headers['content-length']).toBe(String(to - from + 1));
      expect([`bytes ${from}-${to}/2048`, `bytes ${from}-${to}/*`]).toContain(res.headers['content-range']);
    }
    expect((await get('bytes=500-0')).status).toBe(416);
    expect((await get('bytes=5000-10000')).status).toBe(416);
    await deleteBlob(REPO1, blob);
  });
  it.each([
    ['empty', Buffer.alloc(0)],
    ['emptyJSON', Buffer.from('{}')],
  ])('well-known blob %s: push, HEAD, GET, DELETE', async (_n, blob) => {
    const put = await postPut(REPO1, blob);
    expect(put.status).toBe(201);
    await headAndGetBlob(REPO1, blob);
    await deleteBlob(REPO1, blob);
  });
  const bad = () => {
    const blob = randomBytes(CHUNK_MIN * 3 - 5);
    return { digest: sha(blob), sent: Buffer.concat([blob, Buffer.from('oh no')]) };
  };
  it('bad digest: post only → 400 (or 202 then the PUT 400)', async () => {
    const { digest, sent } = bad();
    const post = await call('POST', `/v2/${REPO1}/blobs/uploads/?digest=${digest}`, { headers: octet(), body: sent });
    expect([400, 202]).toContain(post.status);
    if (post.status === 202)
      expect(
        (await call('PUT', withDigest(post.headers.location, digest), { headers: octet(), body: sent })).status,
      ).toBe(400);
  });
  it('bad digest: post+put, chunked, chunked with the last chunk in the PUT, stream → 400', async () => {
    for (const push of [
      (b: Buffer, d: string) => postPut(REPO1, b, d),
      (b: Buffer, d: string) => chunked(REPO1, b, { digest: d }),
      (b: Buffer, d: string) => chunked(REPO1, b, { digest: d, putLast: true }),
      (b: Buffer, d: string) => stream(REPO1, b, d),
    ]) {
      const { digest, sent } = bad();
      const res = await push(sent, digest);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('DIGEST_INVALID');
    }
  });
});

// ---- data sets: generated like the runner's GenerateData (random content, same shapes) ----
interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  data?: string;
  platform?: { os: string; architecture: string };
}
interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string;
  annotations?: Record<string, string>;
}
class DataSet {
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
const dataSets: [string, () => DataSet][] = [
  [
    'image',
    () => {
      const d = new DataSet();
      d.manifest({ tag: 'image' });
      return d;
    },
  ],
  [
    'image-uncompressed',
    () => {
      const d = new DataSet();
      d.manifest({
        tag: 'image-uncompressed',
        layers: [0, 1].map(() => d.blob(randomBytes(256), 'application/vnd.oci.image.layer.v1.tar')),
      });
      return d;
    },
  ],
  [
    'large-manifest (390 annotations of 10000 bytes)',
    () => {
      const d = new DataSet();
      const annotations = Object.fromEntries(
        Array.from({ length: 390 }, (_, i) => [`large-annotation-${i}`, 'A'.repeat(10_000)]),
      );
      d.manifest({ tag: 'large-manifest', annotations });
      return d;
    },
  ],
  [
    'index',
    () => {
      const d = new DataSet();
      d.imageIndex(amd64arm64, { indexTag: 'index' });
      return d;
    },
  ],
  [
    'nested-index',
    () => {
      const d = new DataSet();
      const a = d.imageIndex(amd64arm64);
      const b = d.imageIndex(amd64arm64);
      d.index([a, b], { tag: 'index-of-index' });
      return d;
    },
  ],
  [
    'empty-index',
    () => {
      const d = new DataSet();
      d.index([], { tag: 'index' });
      return d;
    },
  ],
  [
    'artifact',
    () => {
      const d = new DataSet();
      d.manifest({
        tag: 'artifact',
        artifactType: EXAMPLE,
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), EXAMPLE)],
      });
      return d;
    },
  ],
  [
    'artifact-index',
    () => {
      const d = new DataSet();
      const kids = amd64arm64.map((p) => ({
        ...d.manifest({ artifactType: EXAMPLE, config: emptyConfig(d), layers: [d.blob(randomBytes(256), EXAMPLE)] }),
        platform: p,
      }));
      d.index(kids, { tag: 'artifact-index', artifactType: EXAMPLE });
      return d;
    },
  ],
  [
    'artifact-without-layers',
    () => {
      const d = new DataSet();
      d.manifest({
        tag: 'artifact-without-layers',
        artifactType: EXAMPLE,
        config: emptyConfig(d),
        layers: [d.blob(Buffer.from('{}'), EMPTY)],
      });
      return d;
    },
  ],
  [
    'artifacts-with-subject',
    () => {
      const d = new DataSet();
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
      return d;
    },
  ],
  [
    'index-with-subject',
    () => {
      const d = new DataSet();
      const subject = d.imageIndex(amd64arm64, { indexTag: 'index' });
      const kids = amd64arm64.map((p) => ({
        ...d.manifest({ artifactType: EXAMPLE, config: emptyConfig(d), layers: [d.blob(randomBytes(256), EXAMPLE)] }),
        platform: p,
      }));
      d.index(kids, { subject, artifactType: EXAMPLE, annotations: d.annotations(), tag: 'tagged-artifact' });
      return d;
    },
  ],
  [
    'missing-subject',
    () => {
      const d = new DataSet();
      const subject = { mediaType: IMAGE, size: 123, digest: sha('missing content') };
      d.manifest({
        subject,
        artifactType: EXAMPLE,
        annotations: d.annotations(),
        config: emptyConfig(d),
        layers: [d.blob(randomBytes(256), EXAMPLE)],
        tag: 'tagged-artifact',
      });
      return d;
    },
  ],
  [
    'data-field',
    () => {
      const d = new DataSet();
      d.manifest({ tag: 'data-field', data: true });
      return d;
    },
  ],
  [
    'non-distributable-layers',
    () => {
      const d = new DataSet();
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
      return d;
    },
  ],
  [
    'custom-fields',
    () => {
      const d = new DataSet();
      d.imageIndex(amd64arm64, { indexTag: 'custom-fields', extra: true });
      return d;
    },
  ],
  [
    'no-layers',
    () => {
      const d = new DataSet();
      d.manifest({ tag: 'no-layers', layers: [] });
      return d;
    },
  ],
  [
    'empty-blob',
    () => {
      const d = new DataSet();
      d.manifest({ tag: 'empty-blob', layers: [d.blob(Buffer.alloc(0), 'application/vnd.oci.image.layer.v1.tar')] });
      return d;
    },
  ],
];

async function putManifestChecked(repo: string, ref: string, m: DataSet['manifests'][number]) {
  const put = await call('PUT', `/v2/${repo}/manifests/${ref}`, {
    headers: { 'content-type': m.mediaType },
    body: m.body,
  });
  expect(put.status, `PUT ${ref}: ${put.body.toString().slice(0, 300)}`).toBe(201);
  expect(put.headers.location).toBeTruthy();
  if (m.subject) expect(put.headers['oci-subject']).toBe(m.subject);
  if (put.headers['docker-content-digest']) expect(put.headers['docker-content-digest']).toBe(m.digest);
  const get = await call('GET', new URL(put.headers.location!, server.url).pathname, {
    headers: { accept: `${INDEX}, ${IMAGE}` },
  });
  expect(get.status).toBe(200);
  expect(get.headers['content-type']).toBe(m.mediaType);
  expect(get.headers['content-length']).toBe(String(m.body.length));
  expect(get.body.equals(m.body)).toBe(true);
}
async function manifestExists(method: 'HEAD' | 'GET', ref: string, m: DataSet['manifests'][number]) {
  const res = await call(method, `/v2/${REPO1}/manifests/${ref}`, { headers: { accept: m.mediaType } });
  expect(res.status, `${method} ${ref}`).toBe(200);
  expect(res.headers['content-type']).toBe(m.mediaType);
  expect(res.headers['content-length']).toBe(String(m.body.length));
  if (res.headers['docker-content-digest']) expect(res.headers['docker-content-digest']).toBe(m.digest);
  if (method === 'GET') expect(res.body.equals(m.body)).toBe(true);
  else expect(res.body.length).toBe(0);
}
const sameReferrer = (a: Desc, g: Referrer) =>
  a.digest === g.digest &&
  a.mediaType === g.mediaType &&
  a.size === g.size &&
  (a.artifactType ?? '') === g.artifactType &&
  Object.entries(g.annotations ?? {}).every(([k, v]) => a.annotations?.[k] === v);
async function referrersOf(subject: string, artifactType?: string) {
  const res = await call(
    'GET',
    `/v2/${REPO1}/referrers/${subject}${artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''}`,
  );
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe(INDEX);
  const index = JSON.parse(res.body.toString()) as { schemaVersion: number; mediaType: string; manifests: Desc[] };
  expect(index.schemaVersion).toBe(2);
  expect(index.mediaType).toBe(INDEX);
  const filters = (res.headers['oci-filters-applied'] ?? '').split(',').map((s) => s.trim());
  return { list: index.manifests, filtered: filters.includes('artifactType') };
}

describe.sequential('OCI conformance (main): data sets', () => {
  it.each(dataSets)('%s: push, list, head, pull, referrers, delete', async (_name, make) => {
    const d = make();
    // push: blobs, manifests by digest in order, then tags
    for (const blob of d.blobs.values()) expect((await postPut(REPO1, blob)).status).toBe(201);
    for (const m of d.manifests) await putManifestChecked(REPO1, m.digest, m);
    for (const [tag, digest] of d.tags)
      await putManifestChecked(REPO1, tag, d.manifests.find((m) => m.digest === digest)!);
    // list
    const list = await call('GET', `/v2/${REPO1}/tags/list`);
    expect(list.status).toBe(200);
    const tags = (JSON.parse(list.body.toString()).tags ?? []) as string[];
    for (const tag of d.tags.keys()) expect(tags).toContain(tag);
    if (tags.length >= 2) {
      const sorted = [...tags].sort();
      const end = Math.floor(sorted.length / 2);
      const partial = await call('GET', `/v2/${REPO1}/tags/list?last=${encodeURIComponent(sorted[end - 1]!)}`);
      expect(partial.status).toBe(200);
      const rest = (JSON.parse(partial.body.toString()).tags ?? []) as string[];
      for (const t of sorted.slice(0, end)) expect(rest).not.toContain(t);
      for (const t of sorted.slice(end)) expect(rest).toContain(t);
    }
    // head, pull
    for (const method of ['HEAD', 'GET'] as const) {
      for (const [tag, digest] of d.tags)
        await manifestExists(method, tag, d.manifests.find((m) => m.digest === digest)!);
      for (const m of d.manifests) await manifestExists(method, m.digest, m);
      for (const blob of d.blobs.values()) {
        const res = await call(method, `/v2/${REPO1}/blobs/${sha(blob)}`);
        expect(res.status).toBe(200);
        expect(res.headers['content-length']).toBe(String(blob.length));
        if (method === 'GET') expect(res.body.equals(blob)).toBe(true);
      }
    }
    // referrers, unfiltered and filtered by each artifactType
    for (const [subject, goals] of d.referrers) {
      const all = await referrersOf(subject);
      for (const g of goals)
        expect(
          all.list.some((a) => sameReferrer(a, g)),
          `referrer ${g.digest}`,
        ).toBe(true);
      for (const at of new Set(goals.map((g) => g.artifactType))) {
        const some = await referrersOf(subject, at);
        expect(some.filtered, 'OCI-Filters-Applied: artifactType').toBe(true);
        for (const g of goals.filter((x) => x.artifactType === at))
          expect(some.list.some((a) => sameReferrer(a, g))).toBe(true);
        for (const a of some.list) expect(a.artifactType).toBe(at);
      }
    }
    // delete: tags, manifests in reverse order, blobs
    for (const tag of d.tags.keys()) {
      expect((await call('DELETE', `/v2/${REPO1}/manifests/${tag}`)).status, `DELETE tag ${tag}`).toBe(202);
      expect((await call('HEAD', `/v2/${REPO1}/manifests/${tag}`)).status).toBe(404);
    }
    for (const m of [...d.manifests].reverse()) {
      expect((await call('DELETE', `/v2/${REPO1}/manifests/${m.digest}`)).status, `DELETE ${m.digest}`).toBe(202);
      expect((await call('HEAD', `/v2/${REPO1}/manifests/${m.digest}`)).status).toBe(404);
    }
    for (const blob of d.blobs.values()) await deleteBlob(REPO1, blob);
  });
});

describe.sequential('OCI conformance (main): manifest errors', () => {
  it('GET of a digest and a tag never pushed → 404', async () => {
    expect((await call('GET', `/v2/${REPO1}/manifests/${sha(randomBytes(64))}`)).status).toBe(404);
    expect((await call('GET', `/v2/${REPO1}/manifests/missing-tag`)).status).toBe(404);
  });
  it('PUT to sha256:baddigeststring → 400; GET of it → 404 or 400', async () => {
    const d = new DataSet();
    d.manifest();
    for (const blob of d.blobs.values()) expect((await postPut(REPO1, blob)).status).toBe(201);
    const m = d.manifests[0]!;
    const put = await call('PUT', `/v2/${REPO1}/manifests/sha256:baddigeststring`, {
      headers: { 'content-type': m.mediaType },
      body: m.body,
    });
    expect(put.status).toBe(400);
    expect([400, 404]).toContain((await call('GET', `/v2/${REPO1}/manifests/sha256:baddigeststring`)).status);
    // a well-formed digest that is not the body's
    const wrong = await call('PUT', `/v2/${REPO1}/manifests/${sha('other')}`, {
      headers: { 'content-type': m.mediaType },
      body: m.body,
    });
    expect(wrong.status).toBe(400);
    for (const blob of d.blobs.values()) await deleteBlob(REPO1, blob);
  });
});

describe.sequential('spec.md checks the suites lean on (tag pagination)', () => {
  it('n=0 → an empty list without Link; n=1 → one tag with a Link to the next page', async () => {
    const d = new DataSet();
    d.manifest();
    for (const blob of d.blobs.values()) expect((await postPut(REPO1, blob)).status).toBe(201);
    const m = d.manifests[0]!;
    for (const tag of ['page-a', 'page-b', 'page-c']) await putManifestChecked(REPO1, tag, m);
    const zero = await call('GET', `/v2/${REPO1}/tags/list?n=0`);
    expect(zero.status).toBe(200);
    expect(JSON.parse(zero.body.toString()).tags ?? []).toEqual([]);
    expect(zero.headers.link).toBeUndefined();
    const one = await call('GET', `/v2/${REPO1}/tags/list?n=1`);
    expect(JSON.parse(one.body.toString()).tags).toEqual(['page-a']);
    expect(one.headers.link).toMatch(/rel="next"/);
    expect((await call('DELETE', `/v2/${REPO1}/manifests/${m.digest}`)).status).toBe(202);
    for (const blob of d.blobs.values()) await deleteBlob(REPO1, blob);
  });
});
