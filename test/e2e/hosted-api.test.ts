/**
 * The hosted repository over real HTTP, on the served process: the protocol details real clients
 * depend on (API version header, single-request and chunked uploads, cross-repository mounts,
 * ranges, digest checks, tag pagination, redeploy policy), checked with plain fetch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, MEDIA_TYPES, seededBytes, sha256 } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { absolute, blobDigest, finishUpload, patchChunk, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;

beforeAll(async () => {
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: ['pull', 'push', 'delete'] },
        { name: 'releases', type: 'hosted', deploymentPolicy: 'disableRedeploy', anonymous: ['pull', 'push'] },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'private', paths: ['releases'] }],
    },
  });
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

async function pushImage(name: string, tag: string, image = buildImage({ seed: `${name}:${tag}` })) {
  for (const blob of [image.config, ...image.layers]) {
    const upload = await startUpload(server.url, name);
    expect((await finishUpload(upload, blob.digest, blob.bytes)).status).toBe(201);
  }
  return fetch(`${server.url}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
}

async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json().catch(() => ({}))) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

describe('hosted repository over HTTP', () => {
  it('answers /v2/ with the API version header', async () => {
    const res = await fetch(`${server.url}/v2/`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('accepts a single-request upload (POST ?digest= with the body)', async () => {
    const data = seededBytes('single', 10_000);
    const digest = sha256(data);
    const res = await fetch(`${server.url}/v2/api/single/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    await res.arrayBuffer();
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(await blobDigest(server.url, 'api/single', digest)).toEqual({ status: 200, digest, size: data.length });
  });

  it('refuses an out-of-order chunk with 416 and a wrong digest with DIGEST_INVALID', async () => {
    const data = seededBytes('chunks', 300_000);
    const upload = await startUpload(server.url, 'api/chunks');
    const first = await patchChunk(server.url, upload, data.subarray(0, 100_000), 0);
    expect(first.status).toBe(202);
    const gap = await patchChunk(server.url, first.location ?? upload, data.subarray(200_000), 200_000);
    expect(gap.status).toBe(416);
    const rest = await patchChunk(server.url, first.location ?? upload, data.subarray(100_000), 100_000);
    expect(rest.status).toBe(202);
    const wrong = await finishUpload(rest.location ?? upload, sha256('something else'));
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body).errors[0].code).toBe('DIGEST_INVALID');
  });

  it('serves byte ranges of a blob', async () => {
    const data = seededBytes('range', 50_000);
    const digest = sha256(data);
    expect((await finishUpload(await startUpload(server.url, 'api/range'), digest, data)).status).toBe(201);
    const res = await fetch(`${server.url}/v2/api/range/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(data.subarray(100, 200));
  });

  it('mounts a blob from another repository without re-uploading it', async () => {
    const data = seededBytes('mount', 20_000);
    const digest = sha256(data);
    expect((await finishUpload(await startUpload(server.url, 'api/source'), digest, data)).status).toBe(201);
    const res = await fetch(`${server.url}/v2/api/target/blobs/uploads/?mount=${digest}&from=api/source`, {
      method: 'POST',
    });
    await res.arrayBuffer();
    expect(res.status).toBe(201);
    expect(absolute(server.url, res.headers.get('location'))).toContain(`/v2/api/target/blobs/${digest}`);
    expect((await fetch(`${server.url}/v2/api/target/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('refuses a manifest whose blobs are missing (MANIFEST_BLOB_UNKNOWN)', async () => {
    const image = buildImage({ seed: 'missing-blobs' });
    const res = await fetch(`${server.url}/v2/api/missing/manifests/1`, {
      method: 'PUT',
      headers: { 'content-type': image.mediaType },
      body: image.manifest.bytes,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
  });

  it('stores a manifest with its digest, content type and tag', async () => {
    const image = buildImage({ seed: 'manifest' });
    const put = await pushImage('api/app', 'v1', image);
    await put.arrayBuffer();
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    const get = await fetch(`${server.url}/v2/api/app/manifests/v1`, { headers: { accept: MEDIA_TYPES.ociManifest } });
    expect(get.headers.get('content-type')).toBe(MEDIA_TYPES.ociManifest);
    expect(get.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(Buffer.from(await get.arrayBuffer())).toEqual(image.manifest.bytes);
  });

  it('paginates the tag list with n and a Link header', async () => {
    for (const tag of ['a', 'b', 'c']) await (await pushImage('api/tags', tag)).arrayBuffer();
    const first = await fetch(`${server.url}/v2/api/tags/tags/list?n=2`);
    const page = (await first.json()) as { name: string; tags: string[] };
    expect(page).toEqual({ name: 'api/tags', tags: ['a', 'b'] });
    const link = first.headers.get('link');
    expect(link).toMatch(/rel="next"/);
    const next = /<([^>]+)>/.exec(link ?? '')?.[1] ?? '';
    const second = (await (await fetch(new URL(next, server.url))).json()) as { tags: string[] };
    expect(second.tags).toEqual(['c']);
  });

  it('keeps tags immutable in a disableRedeploy repository', async () => {
    const first = await pushImage('releases/app', '1.0', buildImage({ seed: 'release-1' }));
    await first.arrayBuffer();
    expect(first.status).toBe(201);
    const again = await pushImage('releases/app', '1.0', buildImage({ seed: 'release-2' }));
    expect(again.status).toBe(403);
    expect(await errorCode(again)).toBe('DENIED');
    const other = await pushImage('releases/app', '1.1', buildImage({ seed: 'release-2' }));
    await other.arrayBuffer();
    expect(other.status).toBe(201);
  });
});
