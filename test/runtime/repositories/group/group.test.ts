import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupRepositoryPlan, RepositoryPlan } from '../../../../compiler/plan.ts';
import { RegistryError } from '../../../../runtime/oci/errors.ts';
import { createGroupRepository } from '../../../../runtime/repositories/group/group.ts';
import type { Descriptor, Manifest, WritableRepository } from '../../../../runtime/repositories/repository.ts';
import { type CountingUpstream, sha256, startCountingUpstream } from '../../../helpers/counting-upstream.ts';
import { readBlob as bytes, proxyPlan, TestProxies, testLog } from '../../../helpers/proxy-setup.ts';

const log = testLog();

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** A hosted-like member in memory: enough of the Repository contract for the group's logic. */
function fakeMember(name: string, options: { failing?: boolean } = {}) {
  const manifests = new Map<string, Manifest>(); // `${image}@${ref}`
  const blobs = new Map<string, Buffer>(); // `${image}@${digest}`
  const uploads = new Map<string, Buffer>();
  const calls: string[] = [];
  const fail = () => {
    if (options.failing) throw new RegistryError('UNAVAILABLE', { message: `${name} is down` });
  };
  const repo: WritableRepository & { calls: string[]; blobs: typeof blobs; manifests: typeof manifests } = {
    name,
    plan: {
      name,
      type: 'hosted',
      online: true,
      blobStore: 'default',
      access: { anonymous: [] },
      deploymentPolicy: 'allowRedeploy',
    } as RepositoryPlan,
    calls,
    blobs,
    manifests,
    async getManifest(image, reference) {
      calls.push(`getManifest ${image} ${reference}`);
      fail();
      const m = manifests.get(`${image}@${reference}`);
      if (!m) throw new RegistryError('MANIFEST_UNKNOWN');
      return m;
    },
    async putManifest(image, reference, body, contentType) {
      calls.push(`putManifest ${image} ${reference}`);
      fail();
      const parsed = JSON.parse(body.toString()) as { config?: { digest: string }; layers?: { digest: string }[] };
      for (const d of [parsed.config, ...(parsed.layers ?? [])]) {
        if (d && !blobs.has(`${image}@${d.digest}`)) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: d });
      }
      const digest = sha256(body);
      const manifest = { digest, mediaType: contentType, size: body.length, body };
      manifests.set(`${image}@${digest}`, manifest);
      manifests.set(`${image}@${reference}`, manifest);
      return { digest };
    },
    async deleteManifest() {},
    async statBlob(image, digest) {
      calls.push(`statBlob ${image} ${digest}`);
      fail();
      const b = blobs.get(`${image}@${digest}`);
      if (!b) throw new RegistryError('BLOB_UNKNOWN');
      return { digest, size: b.length };
    },
    async getBlob(image, digest) {
      calls.push(`getBlob ${image} ${digest}`);
      fail();
      const b = blobs.get(`${image}@${digest}`);
      if (!b) throw new RegistryError('BLOB_UNKNOWN');
      return { info: { digest, size: b.length }, body: { stream: Readable.from([b]) } };
    },
    async deleteBlob() {},
    async startUpload(image, opts) {
      fail();
      if (opts?.mount) {
        const b = blobs.get(`${opts.mount.from ?? image}@${opts.mount.digest}`);
        if (b) {
          blobs.set(`${image}@${opts.mount.digest}`, b);
          return { mounted: { digest: opts.mount.digest, size: b.length } };
        }
      }
      const id = randomUUID();
      uploads.set(id, Buffer.alloc(0));
      return { upload: { id, offset: 0 } };
    },
    async getUpload(_image, id) {
      const u = uploads.get(id);
      if (!u) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      return { id, offset: u.length };
    },
    async appendUpload(_image, id, _offset, body) {
      const data = Buffer.concat([uploads.get(id)!, await collect(body)]);
      uploads.set(id, data);
      return { id, offset: data.length };
    },
    async completeUpload(image, id, digest, body) {
      let data = uploads.get(id)!;
      if (body) data = Buffer.concat([data, await collect(body)]);
      uploads.delete(id);
      if (sha256(data) !== digest) throw new RegistryError('DIGEST_INVALID');
      blobs.set(`${image}@${digest}`, data);
      return { digest, size: data.length };
    },
    async cancelUpload(_image, id) {
      uploads.delete(id);
    },
    async listTags(image) {
      fail();
      const tags = [...manifests.keys()].filter((k) => k.startsWith(`${image}@`) && !k.includes('@sha256:'));
      if (tags.length === 0) throw new RegistryError('NAME_UNKNOWN');
      return tags.map((k) => k.slice(image.length + 1)).sort();
    },
    async listImages() {
      fail();
      return [...new Set([...manifests.keys()].map((k) => k.split('@')[0]!))].sort();
    },
    async listReferrers(): Promise<Descriptor[]> {
      fail();
      return [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(name), size: 1 }];
    },
  };
  return repo;
}

function groupPlan(members: string[], writable: string | null): GroupRepositoryPlan {
  return {
    name: 'group',
    type: 'group',
    online: true,
    blobStore: 'default',
    access: { anonymous: [] },
    members,
    writableMember: writable,
  };
}

async function pushImage(repo: WritableRepository, image: string, tag: string, layers: Buffer[]) {
  const config = Buffer.from(`{"tag":"${tag}"}`);
  for (const blob of [config, ...layers]) {
    const started = await repo.startUpload(image);
    if ('upload' in started) await repo.completeUpload(image, started.upload.id, sha256(blob), Readable.from([blob]));
  }
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(l),
        size: l.length,
      })),
    }),
  );
  return repo.putManifest(image, tag, body, 'application/vnd.oci.image.manifest.v1+json');
}

const upstreams: CountingUpstream[] = [];
const proxies = new TestProxies({ log });
afterEach(async () => {
  await proxies.closeAll();
  await Promise.all(upstreams.splice(0).map((u) => u.stop()));
});

describe('GroupRepository', () => {
  it('serves from the first member that has it and goes straight to that member for the blobs', async () => {
    const a = fakeMember('a');
    const b = fakeMember('b');
    await pushImage(b, 'app', 'v1', [Buffer.from('layer')]);
    await pushImage(a, 'other', 'v1', [Buffer.from('x')]);
    const group = createGroupRepository(groupPlan(['a', 'b'], 'a'), { members: [a, b], writable: a, log });
    const manifest = await group.getManifest('app', 'v1');
    expect(manifest.digest).toBe((await b.getManifest('app', 'v1')).digest);
    a.calls.length = 0;
    expect((await bytes(await group.getBlob('app', sha256('layer')))).toString()).toBe('layer');
    expect(a.calls).toEqual([]); // remembered: b asked first
    await expect(group.getManifest('app', 'nope')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('unions tags, catalog and referrers', async () => {
    const a = fakeMember('a');
    const b = fakeMember('b');
    await pushImage(a, 'app', 'v1', [Buffer.from('1')]);
    await pushImage(b, 'app', 'v2', [Buffer.from('2')]);
    await pushImage(b, 'lib', 'v1', [Buffer.from('3')]);
    const group = createGroupRepository(groupPlan(['a', 'b'], null), { members: [a, b], writable: null, log });
    expect(await group.listTags('app')).toEqual(['v1', 'v2']);
    expect(await group.listImages()).toEqual(['app', 'lib']);
    expect((await group.listReferrers('app', sha256('s'))).map((d) => d.digest)).toEqual([sha256('a'), sha256('b')]);
    await expect(group.listTags('none')).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
  });

  it('skips a failing member, and fails with its error only when nobody else answers', async () => {
    const down = fakeMember('down', { failing: true });
    const b = fakeMember('b');
    await pushImage(b, 'app', 'v1', [Buffer.from('1')]);
    const group = createGroupRepository(groupPlan(['down', 'b'], null), { members: [down, b], writable: null, log });
    expect((await group.getManifest('app', 'v1')).size).toBeGreaterThan(0);
    expect(await group.listTags('app')).toEqual(['v1']);
    await expect(group.getManifest('app', 'v9')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('a blob no member has while one cannot answer: BLOB_UNKNOWN with a writable member that lacks it (a push goes on)', async () => {
    const hosted = fakeMember('hosted');
    const down = fakeMember('down', { failing: true });
    const digest = sha256('not anywhere');
    const pushable = createGroupRepository(groupPlan(['hosted', 'down'], 'hosted'), {
      members: [hosted, down],
      writable: hosted,
      log,
    });
    await expect(pushable.statBlob('app', digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    // Without a writable member nothing says the blob is absent: the member's failure stands.
    const readOnly = createGroupRepository(groupPlan(['hosted', 'down'], null), {
      members: [hosted, down],
      writable: null,
      log,
    });
    await expect(readOnly.statBlob('app', digest)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // A pull of the blob still reports why.
    await expect(pushable.getBlob('app', digest)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('refuses pushes without a writable member', async () => {
    const a = fakeMember('a');
    const group = createGroupRepository(groupPlan(['a'], null), { members: [a], writable: null, log });
    await expect(group.startUpload('app')).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(group.putManifest('app', 'v1', Buffer.from('{}'), 'application/json')).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
  });

  it('copies blobs found only in another member into the writable member before a manifest push', async () => {
    const upstream = await startCountingUpstream();
    upstreams.push(upstream);
    const base = upstream.addImage('app', 'base', [Buffer.from('base-layer')]);
    const proxy = proxies.create(proxyPlan(upstream.url, { name: 'up', access: { anonymous: [] } }));
    const hosted = fakeMember('hosted');
    const group = createGroupRepository(groupPlan(['hosted', 'up'], 'hosted'), {
      members: [hosted, proxy],
      writable: hosted,
      log,
    });
    // A client pushing an image built FROM base: HEAD says the base layer exists (in the proxy)…
    expect(await group.statBlob('app', base.layers[0]!)).toMatchObject({ size: 10 });
    // …so it uploads only its own layer and the config, then the manifest.
    const own = Buffer.from('own-layer');
    const config = Buffer.from('{"c":1}');
    for (const blob of [own, config]) {
      const started = await group.startUpload('app');
      if ('upload' in started)
        await group.completeUpload('app', started.upload.id, sha256(blob), Readable.from([blob]));
    }
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [base.layers[0], sha256(own)].map((digest) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest,
          size: 1,
        })),
      }),
    );
    const pushed = await group.putManifest('app', 'mine', body, 'application/vnd.oci.image.manifest.v1+json');
    expect(pushed.digest).toBe(sha256(body));
    expect(hosted.blobs.get(`app@${base.layers[0]}`)?.toString()).toBe('base-layer');
    // nothing was pushed upstream
    expect(upstream.requests.every((r) => r.startsWith('GET ') || r.startsWith('HEAD '))).toBe(true);
    // and a mount request across members ends up mounted in the writable member
    const mounted = await group.startUpload('other', { mount: { digest: base.layers[0]!, from: 'app' } });
    expect(mounted).toEqual({ mounted: { digest: base.layers[0], size: 10 } });
  });

  it('refuses a malformed manifest pushed through the group with MANIFEST_INVALID, copying nothing', async () => {
    const hosted = fakeMember('hosted');
    const other = fakeMember('other');
    const group = createGroupRepository(groupPlan(['hosted', 'other'], 'hosted'), {
      members: [hosted, other],
      writable: hosted,
      log,
    });
    const type = 'application/vnd.oci.image.manifest.v1+json';
    await expect(group.putManifest('app', 'v1', Buffer.from('not json'), type)).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
    });
    const noLayers = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha256('c') } }));
    await expect(group.putManifest('app', 'v1', noLayers, type)).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
    expect([...hosted.calls, ...other.calls]).toEqual([]);
  });

  it('releases the member stream when writing the copy fails, and reports the failure', async () => {
    const hosted = fakeMember('hosted');
    const other = fakeMember('other');
    await pushImage(other, 'app', 'v1', [Buffer.from('theirs')]);
    const streams: Readable[] = [];
    const getBlob = other.getBlob.bind(other);
    other.getBlob = async (image, digest, range) => {
      const response = await getBlob(image, digest, range);
      if ('stream' in response.body) streams.push(response.body.stream);
      return response;
    };
    hosted.startUpload = async () => {
      throw new RegistryError('UNAVAILABLE', { message: 'disk full' });
    };
    const group = createGroupRepository(groupPlan(['hosted', 'other'], 'hosted'), {
      members: [hosted, other],
      writable: hosted,
      log,
    });
    const { body } = await other.getManifest('app', 'v1');
    streams.length = 0;
    await expect(
      group.putManifest('app', 'mine', body, 'application/vnd.oci.image.manifest.v1+json'),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(streams.length).toBeGreaterThan(0);
    expect(streams.every((stream) => stream.destroyed)).toBe(true);
  });

  it('mounts a blob that only a non-writable member has', async () => {
    const hosted = fakeMember('hosted');
    const other = fakeMember('other');
    await pushImage(other, 'lib', 'v1', [Buffer.from('shared')]);
    const group = createGroupRepository(groupPlan(['hosted', 'other'], 'hosted'), {
      members: [hosted, other],
      writable: hosted,
      log,
    });
    const digest = sha256('shared');
    expect(await group.startUpload('app', { mount: { digest, from: 'lib' } })).toEqual({
      mounted: { digest, size: 6 },
    });
    expect(hosted.blobs.has(`app@${digest}`)).toBe(true);
    const notThere = await group.startUpload('app', { mount: { digest: sha256('none'), from: 'lib' } });
    expect('upload' in notThere).toBe(true);
  });
});
