/** Blob pull and push through the v2 API (distribution-spec "pull", "push" and "content management"). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostedPlan, listenerPlan, makePlan, sha256 } from './fakes.ts';
import { createHarness, type Harness } from './harness.ts';

const DATA = Buffer.from('hello, registry');
const DIGEST = sha256(DATA);
let h: Harness;

beforeEach(async () => {
  h = await createHarness(
    makePlan({
      repositories: [
        hostedPlan('private'),
        hostedPlan('other'),
        hostedPlan('closed', { access: { anonymous: ['push'] } }),
      ],
      listeners: [listenerPlan({ paths: { other: 'other', closed: 'closed' } })],
    }),
  );
});
afterEach(() => h.close());

async function pushBlob(name: string, data = DATA): Promise<string> {
  const post = await h.app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`,
    payload: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(post.statusCode).toBe(201);
  return sha256(data);
}

describe('push', () => {
  it('POST then PUT with the whole body (monolithic)', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/myorg/app/blobs/uploads/' });
    expect(post.statusCode).toBe(202);
    expect(post.headers.range).toBe('0-0');
    const id = post.headers['docker-upload-uuid'] as string;
    expect(id).toBeTruthy();
    expect(post.headers.location).toBe(`/v2/myorg/app/blobs/uploads/${id}`);
    const put = await h.app.inject({
      method: 'PUT',
      url: `${post.headers.location}?digest=${DIGEST}`,
      payload: DATA,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers.location).toBe(`/v2/myorg/app/blobs/${DIGEST}`);
    expect(put.headers['docker-content-digest']).toBe(DIGEST);
    expect(h.world.repositories.get('private')!.blobs.get(DIGEST)).toEqual(DATA);
  });

  it('single POST with ?digest= (201)', async () => {
    const post = await h.app.inject({
      method: 'POST',
      url: `/v2/app/blobs/uploads/?digest=${DIGEST}`,
      payload: DATA,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(post.statusCode).toBe(201);
    expect(post.headers.location).toBe(`/v2/app/blobs/${DIGEST}`);
    expect(post.headers['docker-content-digest']).toBe(DIGEST);
  });

  it('chunked PATCHes with Content-Range, status, then PUT without body', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const location = post.headers.location as string;
    const first = await h.app.inject({
      method: 'PATCH',
      url: location,
      payload: DATA.subarray(0, 5),
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-4' },
    });
    expect(first.statusCode).toBe(202);
    expect(first.headers.range).toBe('0-4');
    expect(first.headers.location).toBe(location);
    const second = await h.app.inject({
      method: 'PATCH',
      url: location,
      payload: DATA.subarray(5),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `5-${DATA.length - 1}` },
    });
    expect(second.statusCode).toBe(202);
    expect(second.headers.range).toBe(`0-${DATA.length - 1}`);
    const status = await h.app.inject({ method: 'GET', url: location });
    expect(status.statusCode).toBe(204);
    expect(status.headers.range).toBe(`0-${DATA.length - 1}`);
    expect(status.headers['docker-upload-uuid']).toBe(post.headers['docker-upload-uuid']);
    const put = await h.app.inject({ method: 'PUT', url: `${location}?digest=${DIGEST}` });
    expect(put.statusCode).toBe(201);
    const get = await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}` });
    expect(get.rawPayload).toEqual(DATA);
  });

  it('PATCH without Content-Range appends at the current offset (streamed, no content type)', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const patch = await h.app.inject({ method: 'PATCH', url: post.headers.location as string, payload: DATA });
    expect(patch.statusCode).toBe(202);
    expect(patch.headers.range).toBe(`0-${DATA.length - 1}`);
  });

  it('out-of-order chunk → 416 RANGE_INVALID with the session Range and Location', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const location = post.headers.location as string;
    await h.app.inject({
      method: 'PATCH',
      url: location,
      payload: DATA.subarray(0, 5),
      headers: { 'content-range': '0-4', 'content-type': 'application/octet-stream' },
    });
    const bad = await h.app.inject({
      method: 'PATCH',
      url: location,
      payload: DATA.subarray(0, 5),
      headers: { 'content-range': '10-14', 'content-type': 'application/octet-stream' },
    });
    expect(bad.statusCode).toBe(416);
    expect(bad.json().errors[0].code).toBe('RANGE_INVALID');
    expect(bad.headers.range).toBe('0-4');
    expect(bad.headers.location).toBe(location);
  });

  it('last chunk in the PUT: out of order → 416 with the session Range; in order → 201', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const location = post.headers.location as string;
    await h.app.inject({
      method: 'PATCH',
      url: location,
      payload: DATA.subarray(0, 5),
      headers: { 'content-range': '0-4', 'content-type': 'application/octet-stream' },
    });
    const sep = location.includes('?') ? '&' : '?';
    const put = (range: string, from: number) =>
      h.app.inject({
        method: 'PUT',
        url: `${location}${sep}digest=${DIGEST}`,
        payload: DATA.subarray(from),
        headers: { 'content-range': range, 'content-type': 'application/octet-stream' },
      });
    const bad = await put(`7-${DATA.length + 1}`, 5);
    expect(bad.statusCode).toBe(416);
    expect(bad.headers.range).toBe('0-4');
    expect(bad.headers.location).toBe(location);
    expect((await put(`5-${DATA.length - 1}`, 5)).statusCode).toBe(201);
  });

  it('Content-Range that disagrees with Content-Length → 416', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const bad = await h.app.inject({
      method: 'PATCH',
      url: post.headers.location as string,
      payload: DATA.subarray(0, 5),
      headers: { 'content-range': '0-9', 'content-type': 'application/octet-stream' },
    });
    expect(bad.statusCode).toBe(416);
  });

  it('digest mismatch → 400 DIGEST_INVALID; malformed digest rejected before the repository', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const wrong = sha256('something else');
    const put = await h.app.inject({
      method: 'PUT',
      url: `${post.headers.location}?digest=${wrong}`,
      payload: DATA,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.statusCode).toBe(400);
    expect(put.json().errors[0].code).toBe('DIGEST_INVALID');
    for (const digest of ['sha256:abc', 'md5:0123', 'SHA256:' + 'a'.repeat(64), 'sha256:' + 'A'.repeat(64)]) {
      const res = await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${digest}` });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors[0].code).toBe('DIGEST_INVALID');
    }
    const missing = await h.app.inject({
      method: 'PUT',
      url: `${(await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' })).headers.location}`,
    });
    expect(missing.json().errors[0].code).toBe('DIGEST_INVALID');
    expect(h.world.repositories.get('private')!.calls.filter((c) => c.startsWith('statBlob'))).toEqual([]);
  });

  it('cancel: DELETE the session (204), then it is unknown (404 BLOB_UPLOAD_UNKNOWN)', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/v2/app/blobs/uploads/' });
    const del = await h.app.inject({ method: 'DELETE', url: post.headers.location as string });
    expect(del.statusCode).toBe(204);
    const status = await h.app.inject({ method: 'GET', url: post.headers.location as string });
    expect(status.statusCode).toBe(404);
    expect(status.json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('mount from an image of the same repository → 201; from elsewhere → 202 upload session', async () => {
    await pushBlob('base');
    const mounted = await h.app.inject({ method: 'POST', url: `/v2/derived/blobs/uploads/?mount=${DIGEST}&from=base` });
    expect(mounted.statusCode).toBe(201);
    expect(mounted.headers.location).toBe(`/v2/derived/blobs/${DIGEST}`);
    expect(mounted.headers['docker-content-digest']).toBe(DIGEST);
    // `other/base` routes to another repository: no cross-repository mount, a normal session instead
    const foreign = await h.app.inject({
      method: 'POST',
      url: `/v2/derived2/blobs/uploads/?mount=${DIGEST}&from=other/base`,
    });
    expect(foreign.statusCode).toBe(202);
    expect(foreign.headers['docker-upload-uuid']).toBeTruthy();
    // `from` that the client may not pull: quietly a session too (the fake's `closed` allows push only)
    await h.app.inject({
      method: 'POST',
      url: `/v2/closed/x/blobs/uploads/?digest=${DIGEST}`,
      payload: DATA,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const denied = await h.app.inject({
      method: 'POST',
      url: `/v2/closed/y/blobs/uploads/?mount=${DIGEST}&from=closed/x`,
    });
    expect(denied.statusCode).toBe(202);
    expect(h.world.repositories.get('closed')!.calls.at(-1)).toBe('startUpload y {}');
    // no `from`: any image of the repository may provide it, when the caller may pull there
    await h.app.inject({ method: 'POST', url: `/v2/derived3/blobs/uploads/?mount=${DIGEST}` });
    expect(h.world.repositories.get('private')!.calls.at(-1)).toBe(
      `startUpload derived3 {"mount":{"digest":"${DIGEST}"}}`,
    );
    await h.app.inject({ method: 'POST', url: `/v2/closed/z/blobs/uploads/?mount=${DIGEST}` });
    expect(h.world.repositories.get('closed')!.calls.at(-1)).toBe('startUpload z {}');
  });
});

describe('pull', () => {
  it('GET streams the blob with length, digest and Accept-Ranges; HEAD has no body', async () => {
    await pushBlob('app');
    const get = await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}` });
    expect(get.statusCode).toBe(200);
    expect(get.rawPayload).toEqual(DATA);
    expect(get.headers['content-length']).toBe(String(DATA.length));
    expect(get.headers['docker-content-digest']).toBe(DIGEST);
    expect(get.headers['accept-ranges']).toBe('bytes');
    expect(get.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const head = await h.app.inject({ method: 'HEAD', url: `/v2/app/blobs/${DIGEST}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(DATA.length));
    expect(head.body).toBe('');
  });

  it('Range → 206 with Content-Range; suffix ranges; unsatisfiable → 416', async () => {
    await pushBlob('app');
    const part = await h.app.inject({
      method: 'GET',
      url: `/v2/app/blobs/${DIGEST}`,
      headers: { range: 'bytes=7-14' },
    });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 7-14/${DATA.length}`);
    expect(part.rawPayload).toEqual(DATA.subarray(7, 15));
    const suffix = await h.app.inject({
      method: 'GET',
      url: `/v2/app/blobs/${DIGEST}`,
      headers: { range: 'bytes=-3' },
    });
    expect(suffix.rawPayload.toString()).toBe('try');
    const open = await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}`, headers: { range: 'bytes=10-' } });
    expect(open.headers['content-length']).toBe(String(DATA.length - 10));
    const bad = await h.app.inject({
      method: 'GET',
      url: `/v2/app/blobs/${DIGEST}`,
      headers: { range: 'bytes=100-200' },
    });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${DATA.length}`);
  });

  it('unknown blob → 404 BLOB_UNKNOWN, HEAD without a body', async () => {
    const get = await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}` });
    expect(get.statusCode).toBe(404);
    expect(get.json()).toEqual({
      errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: DIGEST } }],
    });
    expect(get.headers['docker-content-digest']).toBeUndefined();
    const head = await h.app.inject({ method: 'HEAD', url: `/v2/app/blobs/${DIGEST}` });
    expect(head.statusCode).toBe(404);
    expect(head.body).toBe('');
  });

  it('DELETE a blob → 202, then 404', async () => {
    await pushBlob('app');
    const del = await h.app.inject({ method: 'DELETE', url: `/v2/app/blobs/${DIGEST}` });
    expect(del.statusCode).toBe(202);
    expect((await h.app.inject({ method: 'GET', url: `/v2/app/blobs/${DIGEST}` })).statusCode).toBe(404);
  });
});
