/**
 * The air-gap workflow end to end: skopeo pushes a 2-platform index, an image under two names and
 * tags, and (over the OCI API) a signature-like artifact whose subject is that image into one
 * regctl; `regctl export --referrers` writes a bundle, which skopeo and umoci read as an OCI
 * layout; `regctl import` loads it into a second regctl with no upstream at all, where skopeo and
 * podman pull the same digests; a second import uploads nothing (its access log); a bundle with
 * one flipped byte is refused naming the blob, with nothing tagged; `--platform` writes a filtered
 * index with a new digest. Against the CNCF registry (no referrers API), referrers are found through
 * the `sha256-<hex>` fallback tag.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { startDistribution } from '../helpers/distribution.ts';
import { openHostedConfig, securedHostedConfig, TEST_USER } from '../helpers/hosted-configs.ts';
import { buildImage, buildIndex, type Image, MEDIA_TYPES, sha256, writeOciLayout } from '../helpers/oci-image.ts';
import { requireBinary, run } from '../helpers/process.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { runRegctl } from '../helpers/regctl-cli.ts';
import { REPO_ROOT, type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let source: RegctlServer;
let target: RegctlServer;
let tools: ContainersTools;
let bundle: string;
let work: string;
const index = buildIndex({ layers: 2, seed: 'airgap-multi', architectures: ['amd64', 'arm64'] });
const tool = buildImage({ layers: 2, seed: 'airgap-tool' });

/** An artifact (empty config, one layer) whose subject is `subject`: what cosign or notation push. */
function signatureOf(subject: Image): Image {
  const config = { digest: sha256('{}'), bytes: Buffer.from('{}') };
  const payload = Buffer.from(`signed ${subject.manifest.digest}`);
  const layer = { digest: sha256(payload), bytes: payload };
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config.digest, size: 2 },
      layers: [{ mediaType: 'application/vnd.example.signature.v1', digest: layer.digest, size: payload.length }],
      subject: { mediaType: subject.mediaType, digest: subject.manifest.digest, size: subject.manifest.bytes.length },
    }),
  );
  const manifest = { digest: sha256(bytes), bytes };
  return {
    manifest,
    mediaType: MEDIA_TYPES.ociManifest,
    config,
    layers: [layer],
    descriptor: { mediaType: MEDIA_TYPES.ociManifest, digest: manifest.digest, size: bytes.length },
  };
}
const signature = signatureOf(tool);

const regctl = runRegctl;

/** The writes (POST, PUT, PATCH) in a server's access log. */
function writesIn(log: string): string[] {
  return log.split('\n').filter((line) => line.includes('"msg":"request"') && /"method":"(POST|PUT|PATCH)"/.test(line));
}

const manifestStatus = async (server: RegctlServer, name: string, reference: string) =>
  (
    await fetch(`${server.url}/v2/${name}/manifests/${reference}`, {
      method: 'HEAD',
      headers: { accept: `${MEDIA_TYPES.ociIndex}, ${MEDIA_TYPES.ociManifest}` },
    })
  ).status;

beforeAll(async () => {
  [source, target] = await Promise.all([
    dirs.make('regctl-airgap-source-').then((dir) => startRegctl({ dir, config: openHostedConfig() })),
    dirs.make('regctl-airgap-target-').then((dir) => startRegctl({ dir, config: openHostedConfig() })),
  ]);
  tools = await createContainersTools(await dirs.make());
  const layout = await dirs.make();
  await writeOciLayout(layout, { index, tool });
  for (const [ref, destination] of [
    ['index', 'multi/app:1'],
    ['tool', 'tools/one:1'],
    ['tool', 'tools/one:stable'],
    ['tool', 'tools/copy:1'],
  ] as const) {
    await tools.skopeo([
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${layout}:${ref}`,
      `docker://${source.host}/${destination}`,
    ]);
  }
  await pushImage(source.url, 'tools/one', signature.manifest.digest, signature);
  work = await dirs.make();
  bundle = join(work, 'bundle.tar');
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  await dirs.cleanup();
});

describe('regctl export', () => {
  it('writes every image, each blob once, with referrers, as an OCI layout skopeo and umoci read', async () => {
    const list = join(work, 'images.txt');
    await writeFile(list, '# site images\ntools/one:1\ntools/one:stable\n\ntools/copy:1\ntools/one:1 # twice\n');
    const result = await regctl([
      'export',
      '--registry',
      source.url,
      '-o',
      bundle,
      '--referrers',
      '--list',
      list,
      'multi/app:1',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const listing = JSON.parse(result.stdout);
    expect(listing.images.map((i: { ref: string; digest: string }) => [i.ref, i.digest])).toEqual([
      ['multi/app:1', index.manifest.digest],
      ['tools/one:1', tool.manifest.digest],
      ['tools/one:stable', tool.manifest.digest],
      ['tools/copy:1', tool.manifest.digest],
    ]);
    expect(listing.images[0].platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(listing.images[1].platforms).toEqual(['linux/amd64']);
    expect(listing.images[1].referrers).toEqual([signature.manifest.digest]);
    // The tool's layers serve two names but are in the bundle once.
    const toolLayer = listing.blobs.find((b: { digest: string }) => b.digest === tool.layers[0]!.digest);
    expect(toolLayer.names).toEqual(['tools/copy', 'tools/one']);
    const digests = [...listing.blobs, ...listing.manifests].map((e: { digest: string }) => e.digest);
    expect(new Set(digests).size).toBe(digests.length);
    expect(digests).toContain(signature.layers[0]!.digest);
    // Manifests come children first: each platform image before the index.
    const order = listing.manifests.map((m: { digest: string }) => m.digest);
    expect(order.indexOf(index.images[1]!.manifest.digest)).toBeLessThan(order.indexOf(index.manifest.digest));

    const table = await regctl(['export', '--registry', source.url, '-o', join(work, 'one.tar'), 'tools/one:1']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^IMAGE\s+DIGEST\s+PLATFORMS\s+SIZE\s+REFERRERS$/m);
    expect(table.stdout).toMatch(/^tools\/one:1\s+sha256:\w{12}\s+linux\/amd64\s+[\d.]+ KiB\s+0$/m);

    const inspected = await tools.skopeo(['inspect', '--raw', `oci-archive:${bundle}:multi/app:1`]);
    expect(sha256(Buffer.from(inspected.stdout))).toBe(index.manifest.digest);
    const unpacked = await dirs.make();
    await run('tar', ['-xf', bundle, '-C', unpacked]);
    const umoci = requireBinary('umoci', 'umoci');
    const ls = await run(umoci, ['ls', '--layout', unpacked]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'multi/app:1',
      'tools/copy:1',
      'tools/one:1',
      'tools/one:stable',
    ]);
  });

  it('keeps only the asked platforms with --platform: the index is rewritten with a new digest', async () => {
    const filtered = join(work, 'arm64.tar');
    const result = await regctl([
      'export',
      '--registry',
      source.url,
      '-o',
      filtered,
      '--platform',
      'linux/arm64',
      'multi/app:1',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const [image] = JSON.parse(result.stdout).images;
    expect(image.servedDigest).toBe(index.manifest.digest);
    expect(image.digest).not.toBe(index.manifest.digest);
    expect(image.platforms).toEqual(['linux/arm64']);
    const raw = await tools.skopeo(['inspect', '--raw', `oci-archive:${filtered}:multi/app:1`]);
    expect(sha256(Buffer.from(raw.stdout))).toBe(image.digest);
    expect(JSON.parse(raw.stdout).manifests.map((m: { digest: string }) => m.digest)).toEqual([
      index.images[1]!.manifest.digest,
    ]);
    const none = await regctl([
      'export',
      '--registry',
      source.url,
      '-o',
      filtered,
      '--platform',
      'linux/s390x',
      'multi/app:1',
    ]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no manifest for linux/s390x in multi/app:1 (it has linux/amd64, linux/arm64)');
  });
});

describe('regctl import', () => {
  it('refuses a bundle with a flipped byte, naming the blob, and tags nothing', async () => {
    const bytes = await readFile(bundle);
    const layer = index.images[0]!.layers[1]!;
    const at = bytes.indexOf(`blobs/sha256/${layer.digest.slice(7)}`);
    expect(at).toBeGreaterThan(0);
    bytes[at + 512 + 100] ^= 0xff; // the entry's data starts after its 512-byte header
    const corrupt = join(work, 'corrupt.tar');
    await writeFile(corrupt, bytes);
    const result = await regctl(['import', corrupt, '--registry', target.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`blob ${layer.digest}`);
    expect(result.stderr).toContain('does not match its digest');
    for (const [name, tag] of [
      ['multi/app', '1'],
      ['tools/one', '1'],
    ] as const)
      expect(await manifestStatus(target, name, tag)).toBe(404);
  });

  it('pushes every image into a registry with no upstream: skopeo and podman pull the same digests', async () => {
    const result = await regctl(['import', bundle, '--registry', target.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^multi\/app:1\s+sha256:\w{64}\s+pushed$/m);
    for (const ref of ['multi/app:1', 'tools/one:1', 'tools/one:stable', 'tools/copy:1']) {
      const [a, b] = await Promise.all([
        tools.inspectRaw(`${source.host}/${ref}`),
        tools.inspectRaw(`${target.host}/${ref}`),
      ]);
      expect(b.digest, ref).toBe(a.digest);
    }
    const copied = await dirs.make();
    await tools.skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${target.host}/multi/app:1`,
      `oci:${copied}:app`,
    ]);
    const copiedIndex = JSON.parse(await readFile(join(copied, 'index.json'), 'utf8'));
    expect(copiedIndex.manifests[0].digest).toBe(index.manifest.digest);
    for (const blob of index.images.flatMap((i) => i.layers))
      expect(sha256(await readFile(join(copied, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
    await tools.podman(['pull', '--tls-verify=false', `${target.host}/tools/copy:1`]);
    const pulled = await tools.podman(['image', 'inspect', '--format', '{{.Digest}}', `${target.host}/tools/copy:1`]);
    expect(pulled.stdout.trim()).toBe(tool.manifest.digest);
    // The signature came along and is found through the referrers API of the target.
    const referrers = await fetch(`${target.url}/v2/tools/one/referrers/${tool.manifest.digest}`);
    const listed = (await referrers.json()) as { manifests: { digest: string; artifactType: string }[] };
    expect(listed.manifests).toEqual([
      expect.objectContaining({ digest: signature.manifest.digest, artifactType: 'application/vnd.example.signature' }),
    ]);
  });

  it('uploads nothing the second time', async () => {
    const before = writesIn(target.log()).length;
    const result = await regctl(['import', bundle, '--registry', target.url, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ blobsUploaded: 0, manifestsPushed: 0 });
    expect(summary.images.every((i: { status: string }) => i.status === 'present')).toBe(true);
    expect(writesIn(target.log()).slice(before)).toEqual([]);
  });

  it('pipes an export into an import with REGCTL_USERNAME/REGCTL_PASSWORD, into a registry requiring them (token auth)', async () => {
    const secured = await startRegctl({
      dir: await dirs.make('regctl-airgap-secured-'),
      config: securedHostedConfig(),
      env: { CI_PASSWORD: TEST_USER.password },
    });
    try {
      const anonymous = await regctl(['import', bundle, '--registry', secured.url]);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toContain('requires authentication');
      // Straight from one registry into the other through a pipe: export to stdout, import from stdin.
      const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO_ROOT, 'bin/regctl.mjs'))}`;
      const result = await run(
        'sh',
        [
          '-c',
          `${cli} export -o - --registry ${source.url} --referrers multi/app:1 tools/one:1 | ` +
            `REGCTL_USERNAME="$IMPORT_USER" REGCTL_PASSWORD="$IMPORT_PASSWORD" ${cli} import - --registry ${secured.url} --json`,
        ],
        {
          env: {
            ...process.env,
            REGCTL_USERNAME: '',
            REGCTL_PASSWORD: '',
            IMPORT_USER: TEST_USER.name,
            IMPORT_PASSWORD: TEST_USER.password,
            NO_COLOR: '1',
          },
        },
      );
      expect(result.stderr).toMatch(/^multi\/app:1\s+sha256:\w{12}\s+linux\/amd64,linux\/arm64/m);
      expect(result.stderr).toContain('written to stdout');
      expect(result.stderr).not.toContain(TEST_USER.password);
      expect(JSON.parse(result.stdout).images.every((i: { status: string }) => i.status === 'pushed')).toBe(true);
      const pulled = await tools.inspectRaw(`${secured.host}/multi/app:1`, {
        creds: `${TEST_USER.name}:${TEST_USER.password}`,
      });
      expect(pulled.digest).toBe(index.manifest.digest);
    } finally {
      await secured.stop();
    }
  });

  it('says what is wrong with a file that is not a bundle', async () => {
    const missing = await regctl(['import', join(work, 'nope.tar'), '--registry', target.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.tar: no such file');
    const usage = await regctl(['import', '--registry', target.url]);
    expect(usage.code).toBe(2);
    const whole = await readFile(bundle);
    const cut = join(work, 'cut.tar');
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const truncated = await regctl(['import', cut, '--registry', target.url]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/cut\.tar: (not a complete tar file|the bundle ends before \d+ of its entries)/);
    const layoutOnly = await dirs.make();
    await writeOciLayout(layoutOnly, { tool });
    const plain = join(work, 'plain.tar');
    await run('tar', ['-cf', plain, '-C', layoutOnly, '.']);
    const refused = await regctl(['import', plain, '--registry', target.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not a bundle written by regctl export/);
  });
});

describe('regctl export from a registry without the referrers API', () => {
  it('finds referrers through the sha256-<hex> fallback tag', async () => {
    const distribution = await startDistribution({ dir: await dirs.make('regctl-airgap-distribution-') });
    try {
      await pushImage(distribution.url, 'tools/one', '1', tool);
      await pushImage(distribution.url, 'tools/one', signature.manifest.digest, signature);
      const fallback = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [signature.descriptor] }),
      );
      const tagged = await fetch(`${distribution.url}/v2/tools/one/manifests/sha256-${tool.manifest.digest.slice(7)}`, {
        method: 'PUT',
        headers: { 'content-type': MEDIA_TYPES.ociIndex },
        body: fallback,
      });
      expect(tagged.status).toBe(201);
      const out = join(work, 'fallback.tar');
      const result = await regctl([
        'export',
        '--registry',
        distribution.url,
        '-o',
        out,
        '--referrers',
        'tools/one:1',
        '--json',
      ]);
      expect(result.code, result.stderr).toBe(0);
      const listing = JSON.parse(result.stdout);
      expect(listing.images[0].referrers).toEqual([signature.manifest.digest]);
      expect(listing.blobs.map((b: { digest: string }) => b.digest)).toContain(signature.layers[0]!.digest);
      // Asked of the API first (404 here), then of the fallback tag: for the image and for the signature.
      expect(distribution.countRequests(new RegExp(`GET /v2/tools/one/referrers/${tool.manifest.digest} `))).toBe(1);
      expect(
        distribution.countRequests(new RegExp(`GET /v2/tools/one/manifests/sha256-${tool.manifest.digest.slice(7)} `)),
      ).toBe(1);
    } finally {
      await distribution.stop();
    }
  });
});
