/**
 * Upload sessions against a running `regctl serve` on a file store with `uploadTimeout: '2s'` and
 * `maxUploadBytes: '1MiB'`: an abandoned chunked upload is deleted (and its disk space freed)
 * once it has been idle for the timeout, and continuing it is `404 BLOB_UPLOAD_UNKNOWN`; uploads
 * that keep sending (chunk after chunk, or one slow PATCH) run well past the timeout and complete;
 * an append past the cap is `429 TOOMANYREQUESTS` naming the store, the cap and the total, keeps
 * none of its bytes, and skopeo's push fails with that message, then succeeds once the sweep has
 * freed the space. Raw HTTP where a client cannot pause between chunks, skopeo for the push.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { buildImage, seededBytes, sha256, writeOciLayout } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { blobDigest, finishUpload, patchChunk, patchStream, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const KiB = 1024;
const NAME = 'app';
const TIMEOUT_MS = 2000;
const dirs = new TmpDirs();
let server: RegctlServer;
let tools: ContainersTools;
let storeDir: string;
let layoutDir: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const dir = await dirs.make();
  storeDir = join(dir, 'data');
  server = await startRegctl({
    dir,
    config: {
      uploadTimeout: '2s',
      blobStores: [{ name: 'default', type: 'file', path: './data', maxUploadBytes: '1MiB' }],
      repositories: [{ name: 'private', type: 'hosted', anonymous: ['pull', 'push', 'delete'] }],
      listeners: [{ host: '127.0.0.1', repository: 'private' }],
    },
  });
  tools = await createContainersTools(join(dir, 'clients'));
  layoutDir = join(dir, 'layout');
  await mkdir(layoutDir);
  // One 512 KiB layer: more than what is left under the cap while another upload holds 768 KiB.
  await writeOciLayout(layoutDir, { v1: buildImage({ seed: 'capped', layers: 1, layerSize: 512 * KiB }) });
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

/** The session folders in the store, with the size of their data. */
async function sessionsOnDisk(): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const id of await readdir(join(storeDir, 'uploads'))) {
    found.set(id, (await stat(join(storeDir, 'uploads', id, 'data')).catch(() => ({ size: -1 }))).size);
  }
  return found;
}

function idOf(uploadUrl: string): string {
  return new URL(uploadUrl).pathname.split('/').at(-1) as string;
}

/** Waits (bounded) until the session folder `id` is gone; returns how long it took. */
async function waitGone(id: string, boundMs: number): Promise<number> {
  const start = Date.now();
  while ((await sessionsOnDisk()).has(id)) {
    if (Date.now() - start > boundMs) throw new Error(`session ${id} still on disk after ${boundMs} ms`);
    await sleep(100);
  }
  return Date.now() - start;
}

function errorOf(body: string): { code: string; message: string; detail?: Record<string, unknown> } {
  const parsed = JSON.parse(body) as { errors: { code: string; message: string; detail?: Record<string, unknown> }[] };
  expect(parsed.errors).toHaveLength(1);
  return parsed.errors[0] as NonNullable<(typeof parsed.errors)[0]>;
}

describe('upload sessions with uploadTimeout 2s and maxUploadBytes 1MiB', () => {
  it('deletes an abandoned chunked upload after the timeout, frees its disk space, and refuses to continue it', async () => {
    const url = await startUpload(server.url, NAME);
    const id = idOf(url);
    const chunk = seededBytes('abandoned', 512 * KiB);
    const sent = await patchChunk(server.url, url, chunk, 0);
    expect(sent.status, sent.body).toBe(202);
    expect((await sessionsOnDisk()).get(id)).toBe(512 * KiB);
    const abandonedAt = Date.now();

    await waitGone(id, 4 * TIMEOUT_MS);
    const idle = Date.now() - abandonedAt;
    expect(idle).toBeGreaterThanOrEqual(TIMEOUT_MS - 100); // not before the timeout (mtime granularity aside)
    expect(idle).toBeLessThan(TIMEOUT_MS * 1.25 + 1000); // within a quarter of it, plus polling

    const late = await patchChunk(server.url, sent.location as string, seededBytes('late', KiB), 512 * KiB);
    expect(late.status).toBe(404);
    expect(errorOf(late.body).code).toBe('BLOB_UPLOAD_UNKNOWN');
    const status = await fetch(url);
    expect(status.status).toBe(404);
    expect(errorOf(await status.text()).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('lets uploads that keep sending run well past the timeout: chunk after chunk, and one slow PATCH', async () => {
    const chunked = async () => {
      let url = await startUpload(server.url, NAME);
      const chunks = Array.from({ length: 8 }, (_, i) => seededBytes(`chunk-${i}`, 32 * KiB));
      let offset = 0;
      for (const chunk of chunks) {
        await sleep(700); // 5.6 s in all, each pause well under the 2 s timeout
        const sent = await patchChunk(server.url, url, chunk, offset);
        expect(sent.status, sent.body).toBe(202);
        url = sent.location as string;
        offset += chunk.length;
      }
      const whole = Buffer.concat(chunks);
      const done = await finishUpload(url, sha256(whole));
      expect(done.status, done.body).toBe(201);
      return whole;
    };
    const slow = async () => {
      const url = await startUpload(server.url, NAME);
      const pieces = Array.from({ length: 12 }, (_, i) => seededBytes(`slow-${i}`, 16 * KiB));
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent === pieces.length) this.push(null);
          else setTimeout(() => this.push(pieces[sent++]), 450); // one PATCH of 5.4 s
        },
      });
      const started = Date.now();
      const patched = await patchStream(url, body);
      expect(patched.status, patched.body).toBe(202);
      expect(Date.now() - started).toBeGreaterThan(2 * TIMEOUT_MS);
      const whole = Buffer.concat(pieces);
      const done = await finishUpload(patched.location as string, sha256(whole));
      expect(done.status, done.body).toBe(201);
      return whole;
    };
    const blobs = await Promise.all([chunked(), slow()]);
    for (const bytes of blobs) {
      expect(await blobDigest(server.url, NAME, sha256(bytes))).toEqual({
        status: 200,
        digest: sha256(bytes),
        size: bytes.length,
      });
    }
  });

  it('refuses an append past the cap with 429 naming the store, the cap and the total; skopeo succeeds once space is freed', async () => {
    // Upload a holds 768 KiB of the 1 MiB cap, then is abandoned.
    const holder = await startUpload(server.url, NAME);
    expect((await patchChunk(server.url, holder, seededBytes('holder', 768 * KiB), 0)).status).toBe(202);

    const refusedUrl = await startUpload(server.url, NAME);
    const refused = await patchChunk(server.url, refusedUrl, seededBytes('refused', 512 * KiB), 0);
    expect(refused.status, refused.body).toBe(429);
    const error = errorOf(refused.body);
    expect(error.code).toBe('TOOMANYREQUESTS');
    expect(error.message).toBe(
      "blob store default: uploads in progress hold 768 KiB (786432 bytes) of its maxUploadBytes cap of 1 MiB (1048576 bytes), and this append would pass it; nothing of it was kept (the upload stays at its offset): retry once other uploads have finished, or been deleted after the store's uploadTimeout",
    );
    expect(error.detail).toEqual({ blobStore: 'default', maxUploadBytes: 1024 * KiB, inProgressBytes: 768 * KiB });
    const status = await fetch(refusedUrl);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0'); // none of the refused bytes kept
    expect((await sessionsOnDisk()).get(idOf(refusedUrl))).toBe(0);

    // A real client's push of a 512 KiB layer is refused with the same message.
    const reference = `${server.host}/${NAME}:capped`;
    const copy = () =>
      tools.skopeo(['copy', '--dest-tls-verify=false', `oci:${layoutDir}:v1`, `docker://${reference}`], {
        allowFailure: true,
      });
    const failed = await copy();
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(
      'toomanyrequests: blob store default: uploads in progress hold 768 KiB (786432 bytes) of its maxUploadBytes cap of 1 MiB',
    );

    // The holder is abandoned: the sweep deletes it, and the same push goes through.
    await waitGone(idOf(holder), 4 * TIMEOUT_MS);
    const pushed = await copy();
    expect(pushed.code, pushed.stderr).toBe(0);
    const inspected = await tools.inspectRaw(reference);
    expect(inspected.text).toContain('"layers"');
  });
});
