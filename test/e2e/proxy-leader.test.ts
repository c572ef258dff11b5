/**
 * The single-flight of an uncached proxy blob when the client that started it misbehaves, end to
 * end (`regctl serve`, a small upstream on loopback): a leader that stops reading mid-blob while
 * keeping its connection open, a leader that leaves before the upstream even answered, and an
 * upstream that stalls mid-body. No follower may wait longer than the upstream transfer (or its
 * timeout), and every byte anyone gets is the blob's.
 */
import { createHash } from 'node:crypto';
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CountingUpstream, startCountingUpstream } from '../helpers/counting-upstream.ts';
import { seededBytes } from '../helpers/oci-image.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let upstream: CountingUpstream;
let server: RegctlServer;

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  server = await startRegctl({
    dir: await dirs.make(),
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        {
          name: 'hub',
          type: 'proxy',
          // Long enough that a follower stuck behind a leader would show it; the stall case uses its own.
          remote: { url: upstream.url, index: 'registry', timeout: '20s' },
          anonymous: ['pull'],
        },
        {
          name: 'quick',
          type: 'proxy',
          remote: { url: upstream.url, index: 'registry', timeout: '1s' },
          anonymous: ['pull'],
        },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'hub', paths: ['quick'] }],
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  await dirs.cleanup();
});

/** Starts a GET and resolves with the response once its headers arrived. */
function startGet(path: string): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const req = request(`${server.url}${path}`);
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  req.end();
  return { req, response };
}

async function timedGet(path: string): Promise<{ status: number; digest: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${server.url}${path}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, digest: digestOf(body), ms: Date.now() - started };
}

describe('a proxy fetch whose first client misbehaves', () => {
  it('a leader that stops reading does not hold back a follower; it gets every byte later', {
    timeout: 40_000,
  }, async () => {
    const blob = seededBytes('leader-stops-reading', 24 * 1024 * 1024);
    const { layers } = upstream.addImage('team/paused', 'v1', [blob]);
    const path = `/v2/team/paused/blobs/${layers[0]}`;
    const leader = startGet(path);
    const response = await leader.response;
    expect(response.statusCode).toBe(200);
    const hash = createHash('sha256');
    let received = 0;
    // Take the first chunk, then stop reading with the connection open.
    await new Promise<void>((resolve) => {
      response.once('data', (chunk: Buffer) => {
        response.pause();
        hash.update(chunk);
        received += chunk.length;
        resolve();
      });
    });
    const follower = await timedGet(path);
    expect(follower).toMatchObject({ status: 200, digest: digestOf(blob) });
    expect(follower.ms).toBeLessThan(8000);
    // The leader comes back and reads to the end: the whole blob, byte for byte.
    response.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
    });
    const ended = new Promise((resolve) => response.on('end', resolve));
    response.resume();
    await ended;
    expect(received).toBe(blob.length);
    expect(`sha256:${hash.digest('hex')}`).toBe(digestOf(blob));
    expect(upstream.count('GET', `/blobs/${layers[0]}`)).toBe(1);
  });

  it('a leader that leaves before the upstream answered: the fetch goes on for the follower', async () => {
    const blob = seededBytes('leader-leaves-early', 4 * 1024 * 1024);
    const { layers } = upstream.addImage('team/early', 'v1', [blob]);
    const path = `/v2/team/early/blobs/${layers[0]}`;
    upstream.faults.responseDelayMs = 1500;
    try {
      const leader = startGet(path);
      leader.response.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
      leader.req.destroy();
      const follower = await timedGet(path);
      expect(follower).toMatchObject({ status: 200, digest: digestOf(blob) });
      expect(follower.ms).toBeLessThan(6000);
    } finally {
      upstream.faults.responseDelayMs = 0;
    }
    expect(upstream.count('GET', `/blobs/${layers[0]}`)).toBe(1);
  });

  it('an upstream that stalls mid-body is timed out: leader and follower both get an error, not a hang', async () => {
    const blob = seededBytes('upstream-stalls', 2 * 1024 * 1024);
    const { layers } = upstream.addImage('team/stall', 'v1', [blob]);
    const path = `/v2/quick/team/stall/blobs/${layers[0]}`;
    upstream.faults.chunkDelayMs = 4000;
    try {
      const started = Date.now();
      const leader = startGet(path);
      const leaderOutcome = leader.response.then(
        (res) =>
          new Promise<string>((resolve) => {
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
            });
            res.on('end', () => resolve(size === blob.length ? 'complete' : `cut at ${size}`));
            res.on('error', () => resolve(`cut at ${size}`));
            res.on('aborted', () => resolve(`cut at ${size}`));
          }),
        () => 'refused',
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const follower = await timedGet(path).catch((error: Error) => ({ status: 0, digest: error.message, ms: 0 }));
      const leaderResult = await leaderOutcome;
      expect(leaderResult).not.toBe('complete');
      expect(follower.status === 0 || follower.status >= 500).toBe(true);
      expect(follower.digest).not.toBe(digestOf(blob));
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      upstream.faults.chunkDelayMs = 0;
    }
  });
});
