/** Manifests, tags, catalog and referrers through the v2 API. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostedPlan, listenerPlan, makePlan, sha256 } from './fakes.ts';
import { createHarness, type Harness } from './harness.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let h: Harness;

function manifest(extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
      layers: [],
      ...extra,
    }),
  );
}

async function putManifest(name: string, reference: string, body: Buffer, contentType = OCI_MANIFEST) {
  return h.app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${reference}`,
    payload: body,
    headers: { 'content-type': contentType },
  });
}

beforeEach(async () => {
  h = await createHarness(
    makePlan({
      repositories: [
        hostedPlan('private'),
        hostedPlan('frozen', { deploymentPolicy: 'readOnly' }),
        hostedPlan('immutable', { deploymentPolicy: 'disableRedeploy' }),
        hostedPlan('secret', { access: { anonymous: [] } }),
      ],
      listeners: [listenerPlan({ paths: { frozen: 'frozen', immutable: 'immutable', secret: 'secret' } })],
    }),
  );
});
afterEach(() => h.close());

describe('manifests', () => {
  it('PUT by tag → 201 with Location and digest; GET/HEAD by tag and digest', async () => {
    const body = manifest();
    const digest = sha256(body);
    const put = await putManifest('myorg/app', 'v1', body);
    expect(put.statusCode).toBe(201);
    expect(put.headers.location).toBe(`/v2/myorg/app/manifests/${digest}`);
    expect(put.headers['docker-content-digest']).toBe(digest);
    expect(put.headers['oci-subject']).toBeUndefined();
    for (const reference of ['v1', digest]) {
      const get = await h.app.inject({
        method: 'GET',
        url: `/v2/myorg/app/manifests/${reference}`,
        headers: { accept: OCI_MANIFEST },
      });
      expect(get.statusCode).toBe(200);
      expect(get.rawPayload).toEqual(body);
      expect(get.headers['content-type']).toBe(OCI_MANIFEST);
      expect(get.headers['docker-content-digest']).toBe(digest);
      expect(get.headers['content-length']).toBe(String(body.length));
      expect(get.headers.etag).toBe(`"${digest}"`);
    }
    const head = await h.app.inject({ method: 'HEAD', url: '/v2/myorg/app/manifests/v1' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(body.length));
    expect(head.body).toBe('');
    const cached = await h.app.inject({
      method: 'GET',
      url: '/v2/myorg/app/manifests/v1',
      headers: { 'if-none-match': `"${digest}"` },
    });
    expect(cached.statusCode).toBe(304);
  });

  it('passes every Accept value (several headers or comma-joined) and serves a non-accepted type anyway', async () => {
    await putManifest('app', 'v1', manifest());
    const get = await h.app.inject({
      method: 'GET',
      url: '/v2/app/manifests/v1',
      headers: {
        accept:
          'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json;q=0.9',
      },
    });
    expect(get.statusCode).toBe(200);
    expect(get.headers['content-type']).toBe(OCI_MANIFEST);
    expect(h.world.repositories.get('private')!.calls.at(-1)).toBe(
      'getManifest app v1 application/vnd.docker.distribution.manifest.v2+json|application/vnd.docker.distribution.manifest.list.v2+json',
    );
  });

  it('unknown manifest → 404 MANIFEST_UNKNOWN; invalid tag → 404 on GET (OCI conformance), 400 on PUT', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v2/app/manifests/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    const bad = await h.app.inject({ method: 'GET', url: `/v2/app/manifests/-bad${'x'.repeat(5)}` });
    expect(bad.statusCode).toBe(404);
    expect(bad.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    const head = await h.app.inject({ method: 'HEAD', url: '/v2/app/manifests/.INVALID_MANIFEST_NAME' });
    expect(head.statusCode).toBe(404);
    const long = await h.app.inject({ method: 'PUT', url: `/v2/app/manifests/${'a'.repeat(129)}`, payload: '{}' });
    expect(long.statusCode).toBe(400);
  });

  it('a manifest over 4 MiB → 413 MANIFEST_INVALID (announced or streamed)', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await putManifest('app', 'big', big);
    expect(res.statusCode).toBe(413);
    expect(res.json().errors[0].code).toBe('MANIFEST_INVALID');
    const exact = Buffer.concat([manifest(), Buffer.alloc(4 * 1024 * 1024 - manifest().length, 0x20)]);
    expect((await putManifest('app', 'exact', exact)).statusCode).toBe(201);
  });

  it('DELETE by digest → 202, then 404; policies: readOnly and disableRedeploy refuse with DENIED', async () => {
    const body = manifest();
    const digest = sha256(body);
    await putManifest('app', 'v1', body);
    expect((await h.app.inject({ method: 'DELETE', url: `/v2/app/manifests/${digest}` })).statusCode).toBe(202);
    expect((await h.app.inject({ method: 'GET', url: `/v2/app/manifests/${digest}` })).statusCode).toBe(404);

    const frozen = await putManifest('frozen/app', 'v1', body);
    expect(frozen.statusCode).toBe(403);
    expect(frozen.json().errors[0].code).toBe('DENIED');

    expect((await putManifest('immutable/app', 'v1', body)).statusCode).toBe(201);
    const redeploy = await putManifest('immutable/app', 'v1', manifest({ annotations: { a: 'b' } }));
    expect(redeploy.statusCode).toBe(403);
    const tagDelete = await h.app.inject({ method: 'DELETE', url: '/v2/immutable/app/manifests/v1' });
    expect(tagDelete.statusCode).toBe(403);
  });

  it('subject → OCI-Subject on PUT; referrers with artifactType filter', async () => {
    const subject = manifest();
    const subjectDigest = sha256(subject);
    await putManifest('app', 'v1', subject);
    const sbom = manifest({
      artifactType: 'application/spdx+json',
      subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: subject.length },
    });
    const sig = manifest({
      artifactType: 'application/vnd.cncf.notary.signature',
      subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: subject.length },
    });
    const put = await putManifest('app', sha256(sbom), sbom);
    expect(put.statusCode).toBe(201);
    expect(put.headers['oci-subject']).toBe(subjectDigest);
    await putManifest('app', sha256(sig), sig);

    const all = await h.app.inject({ method: 'GET', url: `/v2/app/referrers/${subjectDigest}` });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    expect(all.headers['oci-filters-applied']).toBeUndefined();
    const index = all.json();
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual([sha256(sbom), sha256(sig)].sort());

    const filtered = await h.app.inject({
      method: 'GET',
      url: `/v2/app/referrers/${subjectDigest}?artifactType=application%2Fspdx%2Bjson`,
    });
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(filtered.json().manifests).toEqual([
      { mediaType: OCI_MANIFEST, digest: sha256(sbom), size: sbom.length, artifactType: 'application/spdx+json' },
    ]);

    const badDigest = await h.app.inject({ method: 'GET', url: '/v2/app/referrers/sha256:nothex' });
    expect(badDigest.json().errors[0].code).toBe('DIGEST_INVALID');
  });
});

describe('tags and catalog', () => {
  it('tags/list paginates with n/last and a Link to the next page', async () => {
    for (const tag of ['e', 'a', 'c', 'b', 'd']) await putManifest('app', tag, manifest({ annotations: { tag } }));
    const all = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list' });
    expect(all.json()).toEqual({ name: 'app', tags: ['a', 'b', 'c', 'd', 'e'] });
    expect(all.headers.link).toBeUndefined();

    const first = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list?n=2' });
    expect(first.json().tags).toEqual(['a', 'b']);
    expect(first.headers.link).toBe('</v2/app/tags/list?n=2&last=b>; rel="next"');
    const second = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list?n=2&last=b' });
    expect(second.json().tags).toEqual(['c', 'd']);
    const third = await h.app.inject({ method: 'GET', url: '/v2/app/tags/list?n=2&last=d' });
    expect(third.json().tags).toEqual(['e']);
    expect(third.headers.link).toBeUndefined();
    expect((await h.app.inject({ method: 'GET', url: '/v2/app/tags/list?n=0' })).json().tags).toEqual([]);
  });

  it('catalog: union of routed repositories with client-visible names, paginated, filtered by pull access', async () => {
    await putManifest('zeta', 'v1', manifest());
    await putManifest('alpha/app', 'v1', manifest());
    await putManifest('immutable/tool', 'v1', manifest());
    await h.app.inject({
      method: 'PUT',
      url: '/v2/secret/hidden/manifests/v1',
      payload: manifest(),
      headers: {
        'content-type': OCI_MANIFEST,
        authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`,
      },
    });

    const anonymous = await h.app.inject({ method: 'GET', url: '/v2/_catalog' });
    expect(anonymous.json()).toEqual({ repositories: ['alpha/app', 'immutable/tool', 'zeta'] });
    const admin = await h.app.inject({
      method: 'GET',
      url: '/v2/_catalog',
      headers: { authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` },
    });
    expect(admin.json().repositories).toEqual(['alpha/app', 'immutable/tool', 'secret/hidden', 'zeta']);

    const page = await h.app.inject({ method: 'GET', url: '/v2/_catalog?n=2' });
    expect(page.json().repositories).toEqual(['alpha/app', 'immutable/tool']);
    expect(page.headers.link).toBe('</v2/_catalog?n=2&last=immutable%2Ftool>; rel="next"');
    const next = await h.app.inject({ method: 'GET', url: '/v2/_catalog?n=2&last=immutable%2Ftool' });
    expect(next.json().repositories).toEqual(['zeta']);
    expect(next.headers.link).toBeUndefined();
  });

  it('a bad ?n= on tags/list or the catalog is PAGINATION_NUMBER_INVALID (400), not the whole list', async () => {
    await putManifest('app', 'v1', manifest());
    for (const n of ['abc', '-1', '1.5', '', '1e3', '1234567890']) {
      for (const url of [`/v2/app/tags/list?n=${n}`, `/v2/_catalog?n=${n}`]) {
        const res = await h.app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(400);
        expect(res.json().errors[0]).toMatchObject({ code: 'PAGINATION_NUMBER_INVALID', detail: { n } });
        expect(res.json().errors[0].message).toMatch(/is not a number of results/);
      }
    }
  });
});

describe('auth', () => {
  it('an operation anonymous may not do → 401 with the challenge; credentials pass', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v2/secret/app/tags/list' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="regctl"');
    expect(res.json().errors[0].code).toBe('UNAUTHORIZED');
    const authed = await h.app.inject({
      method: 'GET',
      url: '/v2/secret/app/tags/list',
      headers: { authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` },
    });
    expect(authed.statusCode).toBe(404);
    expect(authed.json().errors[0].code).toBe('NAME_UNKNOWN');
  });

  it('asks for pull on GET/HEAD, push on PUT/POST/PATCH, delete on DELETE, with the client-visible name', async () => {
    const controller = h.world.controllers[0]!;
    await putManifest('secret/x', 'v1', manifest());
    await h.app.inject({ method: 'DELETE', url: '/v2/immutable/app/manifests/v1' });
    await h.app.inject({ method: 'HEAD', url: '/v2/app/blobs/' + sha256('x') });
    expect(controller.scopes.slice(-3)).toEqual([
      { name: 'secret/x', repository: 'secret', actions: ['push'] },
      { name: 'immutable/app', repository: 'immutable', actions: ['delete'] },
      { name: 'app', repository: 'private', actions: ['pull'] },
    ]);
  });

  it('GET /-/token goes to issueToken with scopes resolved through the listener routes', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/-/token?service=regctl&scope=repository:frozen/app:pull&scope=repository:app:push',
    });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(res.json().token, 'base64url').toString()).toBe('frozen/app=frozen,app=private');
  });
});
