/**
 * A real `regctl serve` under hostile HTTP (issue #16 items 4, 5, 7): requests Node's parser
 * refuses, CONNECT and absolute-form get a 4xx with the OCI error body; a few hundred slowloris
 * connections neither slow a real client down nor outlive the 10 s header deadline; a seeded
 * fuzzer of malformed requests gets no 5xx, no hang, an OCI body on every error, no file written
 * outside the store, and the plan serving afterwards.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFuzzCases, runFuzzer } from '../helpers/http-fuzzer.ts';
import { buildImage, seededBytes, sha256 } from '../helpers/oci-image.ts';
import { quantile, rawExchange, startSlowloris } from '../helpers/raw-http.ts';
import { type RegctlServer, startRegctl } from '../helpers/regctl-server.ts';
import { finishUpload, startUpload } from '../helpers/registry-http.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const USER = { name: 'ci', password: 'hostile-http-password-not-secret' } as const;
/** The header deadline of runtime/http/limits.ts. */
const HEADERS_TIMEOUT_MS = 10_000;
const CANARY = `CANARY-${sha256('hostile-http').slice(7, 23)}`;

const dirs = new TmpDirs();
let dir: string;
let server: RegctlServer;
const image = buildImage({ seed: 'hostile-http', layers: 1, layerSize: 1024 * 1024 });
let manifestDigest: string;
let planId: string;

async function walk(root: string, from = root): Promise<string[]> {
  const entries = await readdir(from, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(from, entry.name);
    if (entry.isDirectory()) files.push(`${relative(root, path)}/`, ...(await walk(root, path)));
    else files.push(relative(root, path));
  }
  return files.sort();
}

/** The ping is challenged for anonymous clients (users are configured): these checks log in. */
const USER_BASIC = `Basic ${Buffer.from(`${USER.name}:${USER.password}`).toString('base64')}`;

beforeAll(async () => {
  dir = await dirs.make();
  await writeFile(join(dir, 'canary.txt'), CANARY);
  server = await startRegctl({
    dir,
    env: { CI_PASSWORD: USER.password },
    config: {
      blobStores: [{ name: 'default', type: 'file', path: './data' }],
      repositories: [
        { name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: ['pull', 'push'] },
        { name: 'secured', type: 'hosted', anonymous: [] },
      ],
      listeners: [{ host: '127.0.0.1', repository: 'private', paths: ['secured'] }],
      security: {
        users: [{ name: USER.name, password: { env: 'CI_PASSWORD' }, roles: ['rw'] }],
        roles: { rw: [{ repositories: ['secured'], actions: ['pull', 'push'] }] },
      },
    },
  });
  for (const blob of [image.config, ...image.layers]) {
    expect((await finishUpload(await startUpload(server.url, 'seeded/app'), blob.digest, blob.bytes)).status).toBe(201);
  }
  const put = await fetch(`${server.url}/v2/seeded/app/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  expect(put.status).toBe(201);
  manifestDigest = put.headers.get('docker-content-digest')!;
  planId = ((await (await fetch(`${server.url}/-/status`)).json()) as { planId: string }).planId;
});

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

function ociCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { errors: { code: string }[] }).errors[0]?.code;
  } catch {
    return undefined;
  }
}

/** The plan still serves: ping, the pushed manifest with its digest, the same plan id. */
async function expectServing(): Promise<void> {
  const ping = await fetch(`${server.url}/v2/`, { headers: { authorization: USER_BASIC } });
  await ping.arrayBuffer();
  expect(ping.status).toBe(200);
  const manifest = await fetch(`${server.url}/v2/seeded/app/manifests/v1`, { headers: { accept: image.mediaType } });
  expect(Buffer.from(await manifest.arrayBuffer())).toEqual(image.manifest.bytes);
  expect(manifest.headers.get('docker-content-digest')).toBe(manifestDigest);
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as { planId: string };
  expect(status.planId).toBe(planId);
}

describe('malformed requests over a raw socket', () => {
  const cases: [string, string, number, string][] = [
    ['unknown method FOO', 'FOO /v2/ HTTP/1.1\r\nHost: h\r\n\r\n', 405, 'UNSUPPORTED'],
    [
      'bad Content-Length',
      'PUT /v2/x/manifests/t HTTP/1.1\r\nHost: h\r\nContent-Length: 12abc\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'negative Content-Length',
      'PUT /v2/x/manifests/t HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'Content-Length and chunked',
      'PUT /v2/x/manifests/t HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'broken chunked framing',
      'POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\nabc\r\n0\r\n\r\n',
      400,
      'SIZE_INVALID',
    ],
    [
      'CONNECT host:port',
      'CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n\r\n',
      405,
      'UNSUPPORTED',
    ],
    [
      'absolute-form target',
      'GET http://other.example/v2/ HTTP/1.1\r\nHost: other.example\r\n\r\n',
      400,
      'UNSUPPORTED',
    ],
    [
      'oversized headers',
      `GET /v2/ HTTP/1.1\r\nHost: h\r\nX-Big: ${'x'.repeat(32 * 1024)}\r\n\r\n`,
      431,
      'UNSUPPORTED',
    ],
    ['invalid percent-encoding', 'GET /v2/a%zz/tags/list HTTP/1.1\r\nHost: h\r\n\r\n', 400, 'NAME_INVALID'],
    ['OPTIONS on an endpoint', 'OPTIONS /v2/seeded/app/tags/list HTTP/1.1\r\nHost: h\r\n\r\n', 405, 'UNSUPPORTED'],
    ['HTTP/1.1 without Host', 'GET /v2/ HTTP/1.1\r\n\r\n', 400, 'UNSUPPORTED'],
  ];
  it.each(cases)('%s', async (_name, raw, status, code) => {
    const answer = await rawExchange(server.port, [raw], { boundMs: 5000, untilAnswer: true });
    expect(answer.ms, 'a whole answer, no hang').toBeLessThan(5000);
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(ociCode(answer.body)).toBe(code);
  });
});

describe('slowloris', () => {
  it('300 connections trickling headers: a real client stays fast, the server drops them by the header deadline', async () => {
    const blobUrl = `${server.url}/v2/seeded/app/blobs/${image.layers[0]!.digest}`;
    const time = async (): Promise<number> => {
      const started = performance.now();
      const ping = await fetch(`${server.url}/v2/`, { headers: { authorization: USER_BASIC } });
      await ping.arrayBuffer();
      const blob = await fetch(blobUrl);
      const bytes = Buffer.from(await blob.arrayBuffer());
      expect([ping.status, blob.status]).toEqual([200, 200]);
      expect(sha256(bytes)).toBe(image.layers[0]!.digest);
      return performance.now() - started;
    };
    const slow = await startSlowloris(server.port, { connections: 300, intervalMs: 1000, maxBytes: 40 });
    try {
      const during: number[] = [];
      const until = performance.now() + HEADERS_TIMEOUT_MS - 1500;
      while (performance.now() < until && slow.open() > 0) during.push(await time());
      expect(slow.open(), 'the slow connections are still open while the client is measured').toBeGreaterThan(250);
      expect(during.length).toBeGreaterThan(20);
      expect(quantile(during, 0.99), `p99 of ${during.length} ping+pull pairs`).toBeLessThan(1000);

      await slow.allClosed(HEADERS_TIMEOUT_MS + 4000);
      expect(slow.open(), 'slow connections left open past the header deadline').toBe(0);
      const latest = Math.max(...slow.closedAfterMs.map((ms) => ms ?? Number.POSITIVE_INFINITY));
      expect(latest).toBeLessThan(HEADERS_TIMEOUT_MS + 3000);
      expect(new Set(slow.statuses)).toEqual(new Set([408]));
    } finally {
      slow.stop();
    }
    expect(await time()).toBeLessThan(1000);
  });
});

describe('fuzzer', () => {
  it('1,500 seeded malformed requests: no 5xx, no hang, OCI errors, nothing outside the store, the plan serving', async () => {
    const before = (await walk(dir)).filter((path) => !path.startsWith('data/'));
    const uploads: string[] = [];
    for (let i = 0; i < 4; i++) {
      const upload = new URL(await startUpload(server.url, `fuzz/session${i}`));
      uploads.push(`${upload.pathname}${upload.search}`);
    }
    const seedData = seededBytes('fuzz-seed', 4096);
    expect((await finishUpload(await startUpload(server.url, 'fuzz/app'), sha256(seedData), seedData)).status).toBe(
      201,
    );
    const cases = generateFuzzCases(16, 1500, {
      host: server.host,
      name: 'seeded/app',
      tag: 'v1',
      digests: [image.config.digest, image.layers[0]!.digest, manifestDigest, sha256(seedData)],
      uploads,
      securedSegment: 'secured',
      user: USER,
    });
    const report = await runFuzzer(server.port, cases, { concurrency: 6, boundMs: 5000, canary: CANARY });
    expect(report.problems.slice(0, 20)).toEqual([]);
    expect(report.cases).toBe(1500);
    // Every kind of answer a client can get showed up, so the cases reach past the first check.
    const statuses = [...report.histogram.keys()].sort();
    console.log(`fuzzer statuses: ${JSON.stringify(Object.fromEntries([...report.histogram].sort()))}`);
    for (const status of ['200', '201', '202', '400', '401', '404', '405', '416']) expect(statuses).toContain(status);

    const after = (await walk(dir)).filter((path) => !path.startsWith('data/'));
    expect(after).toEqual(before);
    await expectServing();
  });
});
