/**
 * Replays the OCI distribution-spec conformance suite of the spec repository's main branch against
 * a real `regctl serve` of `examples/minimal` (see `oci-conformance-main-blobs.test.ts` for the
 * settings and the blob APIs): its second half, in its order. Per data set (from
 * `test/helpers/conformance-data.ts`): push → tag list (+`last`) → HEAD → GET → referrers →
 * delete (tags, manifests in reverse push order, blobs); then the manifest errors, and the tag
 * pagination of spec.md that the suites lean on.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useMinimalExample } from '../helpers/conformance-client.ts';
import { DataSet, type Desc, dataSets, IMAGE, INDEX, REPO1, type Referrer } from '../helpers/conformance-data.ts';
import { sha256 as sha } from '../helpers/oci-image.ts';

const client = useMinimalExample();
const { call, postPut, deleteBlob } = client;

async function putManifestChecked(repo: string, ref: string, m: DataSet['manifests'][number]) {
  const put = await call('PUT', `/v2/${repo}/manifests/${ref}`, {
    headers: { 'content-type': m.mediaType },
    body: m.body,
  });
  expect(put.status, `PUT ${ref}: ${put.body.toString().slice(0, 300)}`).toBe(201);
  expect(put.headers.location).toBeTruthy();
  if (m.subject) expect(put.headers['oci-subject']).toBe(m.subject);
  if (put.headers['docker-content-digest']) expect(put.headers['docker-content-digest']).toBe(m.digest);
  const get = await call('GET', new URL(put.headers.location!, client.url).pathname, {
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
