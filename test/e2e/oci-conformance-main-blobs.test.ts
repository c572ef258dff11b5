/**
 * Replays the OCI distribution-spec conformance suite of the spec repository's main branch (the
 * rewritten runner: `conformance/run.go`, `api.go`, `testdata.go`) against a real `regctl serve`
 * of `examples/minimal`, with its default settings (OCI_REPO1=conformance/repo1,
 * OCI_REPO2=conformance/repo2, every API and data set enabled except sparse manifests; the sha512
 * variants are in `oci-conformance-main-sha512.test.ts`).
 *
 * Written from a reading of that runner, not copied. This file is its first half, in its order:
 * ping, empty repository, the blob APIs (post only, post+put, chunked single/multi/out-of-order
 * with and without the last chunk in the PUT, stream, mount, anonymous mount, mount of a missing
 * blob, cancel), range requests, the empty and `{}` blobs, bad digests. The data sets and the
 * manifest errors are in `oci-conformance-main-manifests.test.ts`.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ConformanceResponse, octet, useMinimalExample } from '../helpers/conformance-client.ts';
import { INDEX, REPO1, REPO2 } from '../helpers/conformance-data.ts';
import { sha256 as sha } from '../helpers/oci-image.ts';

const CHUNK_MIN = 1024;

const client = useMinimalExample();
const { call, withDigest, postPut, deleteBlob } = client;

/** The suite's check of a finished blob push: digest header (if any) and GET of the Location. */
async function verifyPushed(res: ConformanceResponse, blob: Buffer) {
  expect(res.status).toBe(201);
  if (res.headers['docker-content-digest']) expect(res.headers['docker-content-digest']).toBe(sha(blob));
  const get = await call('GET', new URL(res.headers.location!, client.url).pathname);
  expect(get.status).toBe(200);
  expect(get.body.equals(blob)).toBe(true);
}
async function postOnly(repo: string, blob: Buffer, digest = sha(blob)) {
  const post = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet(), body: blob });
  if (post.status !== 202) return post;
  return call('PUT', withDigest(post.headers.location, digest), { headers: octet(), body: blob });
}
async function stream(repo: string, blob: Buffer, digest = sha(blob)) {
  const post = await call('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
  expect(post.status).toBe(202);
  const patch = await call('PATCH', post.location, { headers: octet(), body: blob });
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
  let res: ConformanceResponse | undefined;
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
