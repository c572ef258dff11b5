/**
 * A really full disk under a file store: `regctl serve` on a store folder that is a small tmpfs
 * (tests run as root; a failed mount fails the test, it is not skipped). A filler file leaves
 * little room; pushes then run out of space and get `507 STORE_FULL` with the OCI body naming the
 * store, the failed uploads leave no bytes in `uploads/` or `tmp/`, the image pushed before still
 * pulls byte-identical, and once the filler is deleted the next push succeeds without a restart.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHostedConfig } from '../helpers/hosted-configs.ts';
import { buildImage, type Image, seededBytes, sha256 } from '../helpers/oci-image.ts';
import { pushImage } from '../helpers/proxy-setup.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const dirs = new TmpDirs();
let server: RegctlServer | undefined;
let storeDir: string;
let mounted = false;
const FILLER = 'filler';
const NAME = 'full/app';
/** Every request is bounded: a server that never answers fails the test, it does not hang it. */
const REQUEST_TIMEOUT_MS = 15_000;

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'pipe' });
}

beforeAll(async () => {
  const dir = await dirs.make();
  storeDir = join(dir, 'data');
  await mkdir(storeDir);
  try {
    run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', storeDir]);
    mounted = true;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `disk-full e2e: cannot mount an 8 MiB tmpfs on ${storeDir} (the test needs root, or CAP_SYS_ADMIN): ${stderr ?? String(error)}`,
    );
  }
  // The default hosted config's store is `./data` in the server's folder: the tmpfs.
  server = await startRegctl({ dir, config: openHostedConfig() });
});

afterAll(async () => {
  await server?.stop();
  if (mounted) {
    try {
      run('umount', [storeDir]);
    } catch {
      run('umount', ['-l', storeDir]); // still busy: detach now, freed once released
    }
  }
  await dirs.cleanup();
});

/** Every file under `dir` with its size. */
async function filesUnder(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ path, size: (await stat(path)).size });
  }
  return out;
}

/** A monolithic push of one blob (POST, then PUT with the bytes): the PUT's status and body. */
async function pushBlob(
  url: string,
  bytes: Buffer,
): Promise<{ status: number; contentType: string | null; body: string }> {
  const upload = new URL(await startUpload(url, NAME));
  upload.searchParams.set('digest', sha256(bytes));
  const res = await fetch(upload, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
}

/** A PATCH of `bytes` as a stream (no length announced), as a chunked client sends it. */
async function patchStreamed(
  uploadUrl: string,
  bytes: Buffer,
): Promise<{ status: number; location: string | null; body: string }> {
  const res = await fetch(uploadUrl, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(Readable.from([bytes])) as ReadableStream,
    duplex: 'half',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  } as RequestInit);
  const location = res.headers.get('location');
  return { status: res.status, location: location && new URL(location, uploadUrl).toString(), body: await res.text() };
}

/** Pulls `image` by tag and checks every byte of the manifest and its blobs. */
async function expectPulls(url: string, tag: string, image: Image): Promise<void> {
  const manifest = await fetch(`${url}/v2/${NAME}/manifests/${tag}`, {
    headers: { accept: image.mediaType },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  expect(manifest.status).toBe(200);
  expect(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
  for (const blob of [image.config, ...image.layers]) {
    const res = await fetch(`${url}/v2/${NAME}/blobs/${blob.digest}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(blob.bytes)).toBe(true);
  }
}

function expectStoreFull(answer: { status: number; contentType: string | null; body: string }): void {
  expect(answer.status, answer.body).toBe(507);
  expect(answer.contentType).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body) as { errors: { code: string; message: string; detail?: unknown }[] };
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]?.code).toBe('STORE_FULL');
  expect(body.errors[0]?.message).toMatch(/^blob store default is full: .*free space or grow the volume/);
  expect(body.errors[0]?.message).not.toContain(storeDir); // no paths to the client
}

describe('a file store whose disk fills up', () => {
  it('answers 507 STORE_FULL, leaves no partial upload, keeps serving pulls, and recovers once space returns', async () => {
    const url = server?.url as string;
    const before = buildImage({ seed: 'before-full', layers: 2, layerSize: 32 * KiB });
    await pushImage(url, NAME, 'v1', before);

    // Leave about 1 MiB free.
    const { bavail, bsize } = await statfs(storeDir);
    const free = bavail * bsize;
    expect(free).toBeGreaterThan(2 * MiB);
    await writeFile(join(storeDir, FILLER), Buffer.alloc(free - MiB, 0x5a));

    // Push 256 KiB blobs until the store is full (bounded: 1 MiB holds at most 4 of them).
    let full: Awaited<ReturnType<typeof pushBlob>> | undefined;
    let failedBlob: Buffer | undefined;
    for (let i = 0; i < 16 && full === undefined; i++) {
      const bytes = seededBytes(`fill-${i}`, 256 * KiB);
      const answer = await pushBlob(url, bytes);
      if (answer.status === 201) continue;
      full = answer;
      failedBlob = bytes;
    }
    expect(full, 'no push failed although the store had about 1 MiB left').toBeDefined();
    expectStoreFull(full as NonNullable<typeof full>);

    // A streamed PATCH (no length announced) that runs out of space: the same answer.
    const session = await startUpload(url, NAME);
    const patched = await patchStreamed(session, seededBytes('patch', 2 * MiB));
    expectStoreFull({ ...patched, contentType: 'application/json' });
    const status = await fetch(session);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0'); // the offset it had before the failed PATCH

    // Nothing partial stays: no temp file, no upload data (the sessions stay at offset 0).
    expect(await filesUnder(join(storeDir, 'tmp'))).toEqual([]);
    const uploads = await filesUnder(join(storeDir, 'uploads'));
    expect(uploads.filter((f) => f.path.endsWith('/data') && f.size > 0)).toEqual([]);
    for (const state of uploads.filter((f) => f.path.endsWith('/state.json'))) {
      expect(JSON.parse(await readFile(state.path, 'utf8')).offset).toBe(0);
    }

    // Pulls go on, byte for byte.
    await expectPulls(url, 'v1', before);

    // Space comes back: the next pushes succeed, without a restart.
    await rm(join(storeDir, FILLER));
    expect((await pushBlob(url, failedBlob as Buffer)).status).toBe(201);
    const resumed = await patchStreamed(session, seededBytes('patch', 2 * MiB));
    expect(resumed.status, resumed.body).toBe(202);
    const finish = new URL(resumed.location ?? session);
    finish.searchParams.set('digest', sha256(seededBytes('patch', 2 * MiB)));
    const finished = await fetch(finish, { method: 'PUT', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    expect(finished.status, await finished.text()).toBe(201);
    const after = buildImage({ seed: 'after-full', layers: 2, layerSize: 32 * KiB });
    await pushImage(url, NAME, 'v2', after);
    await expectPulls(url, 'v2', after);
    await expectPulls(url, 'v1', before);
  });
});
