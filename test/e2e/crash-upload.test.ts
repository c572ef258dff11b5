/**
 * Crash safety: SIGKILL the server while a large blob is streaming in. After a restart the blob is
 * not visible (HEAD/GET 404, no file named by its digest in the store), and pushing the same blob
 * again succeeds with the right content.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHostedConfig } from '../helpers/hosted-configs.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { blobDigest, finishUpload, patchStream, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let dataDir: string;
const MiB = 1024 * 1024;
const CHUNKS = 192; // 192 MiB blob
const STOP_AFTER = 64; // chunks sent before the crash

/** Chunk i of the test blob: a fixed pseudo-random MiB with its index stamped in. */
function chunk(i: number, base: Buffer): Buffer {
  const out = Buffer.from(base);
  out.writeUInt32BE(i, 0);
  return out;
}

const base = createHash('sha512').update('crash').digest();
const pattern = Buffer.alloc(MiB);
for (let o = 0; o < MiB; o += base.length) base.copy(pattern, o);

function blobDigestOf(): string {
  const hash = createHash('sha256');
  for (let i = 0; i < CHUNKS; i++) hash.update(chunk(i, pattern));
  return `sha256:${hash.digest('hex')}`;
}

/** The blob as a stream; with `pauseAt`, it stops producing after that many chunks until destroyed. */
function blobStream(pauseAt?: number, onPaused?: () => void): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (pauseAt !== undefined && i === pauseAt) {
        onPaused?.();
        return; // never pushes again: the upload hangs half done
      }
      this.push(i < CHUNKS ? chunk(i++, pattern) : null);
    },
  });
}

async function filesUnder(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path).catch(() => null); // a temp file may be renamed meanwhile
    if (info) out.push({ path, size: info.size });
  }
  return out;
}

beforeAll(async () => {
  const dir = await dirs.make();
  dataDir = join(dir, 'data');
  server = await startRegctl({ dir, config: openHostedConfig() });
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('SIGKILL in the middle of a large upload', () => {
  it('leaves no visible partial blob, and the next push of the same blob succeeds', async () => {
    const digest = blobDigestOf();
    const hex = digest.slice('sha256:'.length);
    const name = 'crash/big';
    const uploadUrl = await startUpload(server.url, name);

    let paused!: () => void;
    const pausedAt = new Promise<void>((resolve) => {
      paused = resolve;
    });
    const body = blobStream(STOP_AFTER, paused);
    const upload = patchStream(uploadUrl, body).catch((error: unknown) => error);
    await pausedAt;
    // Wait until the server has written a good part of what was sent (bounded).
    const deadline = Date.now() + 30_000;
    let written = 0;
    while (Date.now() < deadline) {
      written = Math.max(0, ...(await filesUnder(dataDir)).map((f) => f.size));
      if (written >= (STOP_AFTER / 2) * MiB) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(written).toBeGreaterThanOrEqual((STOP_AFTER / 2) * MiB);

    await server.kill();
    body.destroy();
    expect(await upload).toBeInstanceOf(Error);

    await server.restart();
    const head = await fetch(`${server.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect((await blobDigest(server.url, name, digest)).status).toBe(404);
    const named = (await filesUnder(dataDir)).filter((f) => f.path.includes(hex));
    expect(named).toEqual([]);

    // Push the same blob again, streamed, and read it back.
    const again = await startUpload(server.url, name);
    const patched = await patchStream(again, blobStream());
    expect(patched.status).toBe(202);
    const done = await finishUpload(patched.location ?? again, digest);
    expect(done.status).toBe(201);
    expect(await blobDigest(server.url, name, digest)).toEqual({ status: 200, digest, size: CHUNKS * MiB });
  });
});
