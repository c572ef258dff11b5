/**
 * All state lives in the blob store: a chunked upload half done survives a restart of the server
 * (graceful SIGTERM, then a new process) and finishes with the right digest; images pushed before
 * the restart are still served after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHostedConfig } from '../helpers/hosted-configs.ts';
import { seededBytes, sha256 } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { blobDigest, finishUpload, patchChunk, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
const MiB = 1024 * 1024;

beforeAll(async () => {
  server = await startRegctl({ dir: await dirs.make(), config: openHostedConfig() });
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('restart in the middle of a chunked upload', () => {
  it('resumes the upload after a restart and commits the right digest', async () => {
    const data = seededBytes('restart-upload', 3 * MiB + 12345);
    const digest = sha256(data);
    const name = 'restart/blob';
    const uploadUrl = await startUpload(server.url, name);

    const first = await patchChunk(server.url, uploadUrl, data.subarray(0, 2 * MiB), 0);
    expect(first.status).toBe(202);
    expect(first.range).toBe(`0-${2 * MiB - 1}`);
    const pid = server.pid();

    expect(await server.stop()).toBe(0);
    await server.restart();
    expect(server.pid()).not.toBe(pid);

    // The new process knows the session and its progress.
    const next = first.location ?? uploadUrl;
    const status = await fetch(next);
    await status.arrayBuffer();
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${2 * MiB - 1}`);

    const second = await patchChunk(server.url, next, data.subarray(2 * MiB), 2 * MiB);
    expect(second.status).toBe(202);
    expect(second.range).toBe(`0-${data.length - 1}`);
    const done = await finishUpload(second.location ?? next, digest);
    expect(done.status).toBe(201);

    const read = await blobDigest(server.url, name, digest);
    expect(read).toEqual({ status: 200, digest, size: data.length });
  });

  it('still serves blobs committed before a restart', async () => {
    const data = seededBytes('before-restart', 100_000);
    const digest = sha256(data);
    const uploadUrl = await startUpload(server.url, 'restart/kept');
    expect((await finishUpload(uploadUrl, digest, data)).status).toBe(201);
    await server.restart();
    expect(await blobDigest(server.url, 'restart/kept', digest)).toEqual({ status: 200, digest, size: data.length });
  });
});
