/**
 * Faults between regctl's proxy and its upstream, seen by an HTTP client of `regctl serve`: an
 * upstream connection cut mid-blob at every attempt (the resumes used up; resumes that succeed
 * are in proxy-resume.test.ts) and a body that does not match its digest must both abort the
 * client's response (never complete it with wrong bytes) and leave nothing cached; 16 concurrent
 * cold pulls of one blob reach the upstream once. The upstream is the counting fixture.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CountingUpstream, sha256, startCountingUpstream } from '../helpers/counting-upstream.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let upstream: CountingUpstream;
let server: RegctlServer;
const big = randomBytes(3 * 1024 * 1024);
const other = randomBytes(2 * 1024 * 1024);
const shared = randomBytes(4 * 1024 * 1024);

beforeAll(async () => {
  upstream = await startCountingUpstream();
  upstream.addImage('team/app', 'v1', [big, other, shared]);
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [{ name: 'upstream', type: 'proxy', remote: { url: upstream.url }, anonymous: ['pull'] }],
      listeners: [{ host: '127.0.0.1', repository: 'upstream' }],
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

/** GETs a blob and reads it whole; rejects when the response is cut short. */
async function getBlob(digest: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/v2/team/app/blobs/${digest}`, { headers });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, body };
}

describe('proxy faults through regctl serve', () => {
  it('aborts the client when the upstream keeps dying mid-blob (resumes used up), caches nothing, and the next pull works', async () => {
    const digest = sha256(big);
    upstream.faults.cutAfter.set(digest, 1024 * 1024);
    await expect(getBlob(digest)).rejects.toThrow();
    upstream.faults.cutAfter.clear();
    const before = upstream.count('GET', `/blobs/${digest}`);
    const ok = await getBlob(digest);
    expect(ok.status).toBe(200);
    expect(ok.body.equals(big)).toBe(true);
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(before + 1);
  });

  it('never completes a response with bytes that do not match the digest, and never caches them', async () => {
    const digest = sha256(other);
    upstream.faults.corrupt.add(digest);
    await expect(getBlob(digest)).rejects.toThrow();
    upstream.faults.corrupt.clear();
    const ok = await getBlob(digest);
    expect(ok.status).toBe(200);
    expect(sha256(ok.body)).toBe(digest);
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(2);
  });

  it('16 concurrent cold pulls of one blob make exactly one upstream GET', async () => {
    const digest = sha256(shared);
    upstream.faults.chunkDelayMs = 1;
    const results = await Promise.all(Array.from({ length: 16 }, () => getBlob(digest)));
    upstream.faults.chunkDelayMs = 0;
    for (const result of results) expect(sha256(result.body)).toBe(digest);
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(1);
    const range = await getBlob(digest, { range: 'bytes=100-199' });
    expect(range.status).toBe(206);
    expect(range.body.equals(shared.subarray(100, 200))).toBe(true);
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(1);
  });
});
