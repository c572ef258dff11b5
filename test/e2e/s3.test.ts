/**
 * `regctl serve` on the s3 blob store, against a real Ceph RADOS Gateway started for this file:
 * the OCI distribution API by hand, skopeo push/pull, and two replicas on two ports sharing one
 * bucket (push through one, pull through the other; a chunked upload alternating PATCHes).
 *
 * Not covered yet: hot reload of both replicas (a config change seen by each replica's watcher
 * while the other keeps serving) — left for when reload lands.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CephS3, s3StoreConfig, startCeph } from '../helpers/ceph.ts';
import { buildImage, sha256, writeOciLayout } from '../helpers/oci-image.ts';
import { requireBinary, run } from '../helpers/process.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const tmp = new TmpDirs();
let ceph: CephS3;
let a: RegctlServer;
let b: RegctlServer;
let prefix: string;

function sharedConfig(prefix: string, redirect = false): TestConfig {
  return {
    blobStores: [s3StoreConfig(prefix, { redirect })],
    repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
    listeners: [{ host: '127.0.0.1', repository: 'private' }],
  };
}

beforeAll(async () => {
  const cephStart = Date.now();
  ceph = await startCeph();
  prefix = `e2e-${randomBytes(4).toString('hex')}`;
  // Two replicas: same config, same bucket and prefix, their own ports and temp dirs.
  [a, b] = await Promise.all([
    tmp.make().then((dir) => startRegctl({ dir, config: sharedConfig(prefix), env: ceph.env })),
    tmp.make().then((dir) => startRegctl({ dir, config: sharedConfig(prefix), env: ceph.env })),
  ]);
  console.info(`Ceph RGW started in ${ceph.startMs} ms; Ceph + two replicas ready in ${Date.now() - cephStart} ms`);
}, 180_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await ceph?.stop();
  await tmp.cleanup();
}, 60_000);

async function upload(server: RegctlServer, image: string, bytes: Buffer): Promise<string> {
  const started = await fetch(`${server.url}/v2/${image}/blobs/uploads/`, { method: 'POST' });
  expect(started.status).toBe(202);
  const location = new URL(started.headers.get('location')!, server.url);
  location.searchParams.set('digest', sha256(bytes));
  const put = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(put.status).toBe(201);
  return sha256(bytes);
}

describe('regctl on the s3 blob store (Ceph RGW)', () => {
  it('serves the OCI API basics: blob upload, HEAD, GET with range, manifest by tag, tag list', async () => {
    const layer = randomBytes(7 * 1024 * 1024 + 17);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const layerDigest = await upload(a, 'basics/app', layer);
    const configDigest = await upload(a, 'basics/app', config);

    const head = await fetch(`${a.url}/v2/basics/app/blobs/${layerDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.length));
    const ranged = await fetch(`${a.url}/v2/basics/app/blobs/${layerDigest}`, {
      headers: { range: 'bytes=1000-1999' },
    });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(layer.subarray(1000, 2000))).toBe(true);

    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    const put = await fetch(`${a.url}/v2/basics/app/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(manifest));
    const got = await fetch(`${a.url}/v2/basics/app/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(manifest)).toBe(true);
    const tags = await (await fetch(`${a.url}/v2/basics/app/tags/list`)).json();
    expect(tags).toEqual({ name: 'basics/app', tags: ['v1'] });
    const missing = await fetch(`${a.url}/v2/basics/app/blobs/${sha256(Buffer.from('nope'))}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('BLOB_UNKNOWN');
  });

  it('skopeo pushes through one replica and pulls the same image back through the other', async () => {
    const skopeo = requireBinary('skopeo', 'skopeo');
    const dir = await tmp.make();
    const image = buildImage({ layers: 3, layerSize: 3 * 1024 * 1024, seed: 's3-replicas' });
    await writeOciLayout(join(dir, 'src'), { v1: image });
    await run(skopeo, [
      'copy',
      '--dest-tls-verify=false',
      `oci:${join(dir, 'src')}:v1`,
      `docker://${a.host}/team/app:v1`,
    ]);
    await run(skopeo, [
      'copy',
      '--src-tls-verify=false',
      `docker://${b.host}/team/app:v1`,
      `oci:${join(dir, 'back')}:v1`,
    ]);
    const index = JSON.parse(await readFile(join(dir, 'back', 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(image.manifest.digest);
    for (const layer of image.layers) {
      const bytes = await readFile(join(dir, 'back', 'blobs', 'sha256', layer.digest.slice(7)));
      expect(sha256(bytes)).toBe(layer.digest);
    }
    const inspect = await run(skopeo, ['inspect', '--tls-verify=false', `docker://${b.host}/team/app:v1`]);
    expect(JSON.parse(inspect.stdout).Digest).toBe(image.manifest.digest);
  });

  it('completes a chunked upload whose PATCHes alternate between the two replicas', async () => {
    const bytes = randomBytes(17 * 1024 * 1024 + 5);
    const cuts = [0, 2 * 1024 * 1024, 8 * 1024 * 1024 + 3, 11 * 1024 * 1024, 16 * 1024 * 1024, bytes.length];
    const started = await fetch(`${a.url}/v2/chunked/app/blobs/uploads/`, { method: 'POST' });
    expect(started.status).toBe(202);
    let location = started.headers.get('location')!;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const replica = i % 2 === 0 ? b : a;
      const chunk = bytes.subarray(cuts[i], cuts[i + 1]);
      const patched = await fetch(new URL(location, replica.url), {
        method: 'PATCH',
        body: chunk,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${cuts[i]}-${cuts[i + 1]! - 1}`,
          'content-length': String(chunk.length),
        },
      });
      expect(patched.status).toBe(202);
      expect(patched.headers.get('range')).toBe(`0-${cuts[i + 1]! - 1}`);
      location = patched.headers.get('location')!;
    }
    // A status request on the replica that did not take the last PATCH sees the full offset.
    const status = await fetch(new URL(location, a.url));
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${bytes.length - 1}`);
    const done = new URL(location, b.url);
    done.searchParams.set('digest', sha256(bytes));
    const put = await fetch(done, { method: 'PUT' });
    expect(put.status).toBe(201);
    const got = await fetch(`${a.url}/v2/chunked/app/blobs/${sha256(bytes)}`);
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(bytes));
  });

  it('two replicas moving one tag at the same time agree on where it points', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = await upload(a, 'race/app', config);
    const manifests = [1, 2, 3, 4, 5, 6].map((n) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [],
          annotations: { n: String(n) },
        }),
      ),
    );
    const puts = await Promise.all(
      manifests.map((body, i) =>
        fetch(`${(i % 2 === 0 ? a : b).url}/v2/race/app/manifests/latest`, {
          method: 'PUT',
          body,
          headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        }),
      ),
    );
    for (const put of puts) expect(put.status).toBe(201);
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const digests = manifests.map(sha256);
    const seen = async (replica: RegctlServer) =>
      (await fetch(`${replica.url}/v2/race/app/manifests/latest`, { method: 'HEAD', headers: accept })).headers.get(
        'docker-content-digest',
      );
    // At once, each replica answers one of the pushed manifests. They may still disagree: a replica's
    // pull cache holds its own last write, and the other replica's later write to the store is
    // guaranteed to be seen only within 1 s (runtime/repositories/hosted/meta-cache.ts).
    expect(digests).toContain(await seen(a));
    expect(digests).toContain(await seen(b));
    // Past that bound both read the store, which kept exactly one of the writes.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const seenByA = await seen(a);
    expect(digests).toContain(seenByA);
    expect(await seen(b)).toBe(seenByA);
  });

  it('a replica with redirect: true answers blob GETs with a presigned URL to the bucket', async () => {
    const c = await startRegctl({ dir: await tmp.make(), config: sharedConfig(prefix, true), env: ceph.env });
    try {
      const bytes = randomBytes(300 * 1024);
      const pushed = await upload(a, 'redirect/app', bytes);
      const got = await fetch(`${c.url}/v2/redirect/app/blobs/${pushed}`, { redirect: 'manual' });
      expect(got.status).toBe(307);
      const location = got.headers.get('location')!;
      expect(location.startsWith(`${ceph.endpoint}/${ceph.bucket}/${prefix}/blobs/sha256/`)).toBe(true);
      const followed = await fetch(location);
      expect(followed.status).toBe(200);
      expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(pushed);
      const unknown = await fetch(`${c.url}/v2/redirect/app/blobs/${sha256(Buffer.from('absent'))}`, {
        redirect: 'manual',
      });
      expect(unknown.status).toBe(404);
    } finally {
      await c.stop();
    }
  });

  it('refuses a chunk at the wrong offset on either replica, and a wrong digest leaves nothing', async () => {
    const started = await fetch(`${a.url}/v2/chunked/bad/blobs/uploads/`, { method: 'POST' });
    const location = started.headers.get('location')!;
    const first = await fetch(new URL(location, b.url), {
      method: 'PATCH',
      body: Buffer.alloc(100, 1),
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-99' },
    });
    expect(first.status).toBe(202);
    const wrong = await fetch(new URL(first.headers.get('location')!, a.url), {
      method: 'PATCH',
      body: Buffer.alloc(100, 2),
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-99' },
    });
    expect(wrong.status).toBe(416);
    const done = new URL(first.headers.get('location')!, a.url);
    const claimed = sha256(Buffer.alloc(100, 3));
    done.searchParams.set('digest', claimed);
    const put = await fetch(done, { method: 'PUT' });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DIGEST_INVALID');
    expect((await fetch(`${b.url}/v2/chunked/bad/blobs/${claimed}`, { method: 'HEAD' })).status).toBe(404);
  });
});
