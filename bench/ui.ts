/**
 * Web UI page times on a big image: 10 000 tags (each its own manifest) in one image of a hosted
 * repository, seeded in-process through the repository API (`WritableRepository.putManifest`, 16
 * at a time) into a file store, then served by a real `regctl serve` (a child process on a free
 * loopback port) and measured with real HTTP requests over one keep-alive connection, signed in
 * with Basic credentials. Every page is asked `--rounds` times after a first request (shown apart:
 * the server's first use of that code), the tag pages each time at another place in the list so
 * that no round reads what an earlier one cached; p50, p95 and max are printed. The target: every
 * page under 200 ms.
 *
 *   node bin/run-ts.mjs bench/ui.ts [--tags 10000] [--rounds 30]
 *
 * Every loop is bounded by its count; nothing leaves 127.0.0.1.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { buildPlan } from '../compiler/build.ts';
import { isWritable } from '../runtime/repositories/repository.ts';
import { createRuntimeState } from '../runtime/server/state.ts';
import type { ConfigInput } from '../schema/index.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { percentile } from '../test/helpers/login-load.ts';
import { buildImage, sha256 } from '../test/helpers/oci-image.ts';
import { configSource, startRegctl, type TestConfig } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';

const { values } = parseArgs({
  options: { tags: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '30' } },
});
const TAGS = Number(values.tags);
const ROUNDS = Number(values.rounds);
if (!(TAGS >= 100 && TAGS <= 100_000 && ROUNDS >= 1 && ROUNDS <= 1000)) {
  throw new Error('--tags between 100 and 100000, --rounds between 1 and 1000');
}
const PASSWORD = 'bench-ui-password';
const IMAGE = 'big';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function config(store: string, port?: number): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: store }],
    repositories: [{ name: 'apps', type: 'hosted' }],
    listeners: [{ host: '127.0.0.1', ...(port === undefined ? {} : { port }), repository: 'apps' }],
    security: {
      users: [{ name: 'admin', password: { env: 'BENCH_UI_PASSWORD' }, roles: ['admin'] }],
      roles: { admin: [{ repositories: ['*'], actions: ['pull', 'push'] }] },
    },
  } as TestConfig;
}

/** A Markdown table (for docs/ui.md). */
function formatTable(head: readonly string[], rows: readonly string[][]): string {
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

const tagName = (i: number) => `v${String(i).padStart(5, '0')}`;

/** Pushes one image's blobs, then TAGS manifests (one per tag, differing by an annotation). */
async function seed(dir: string): Promise<void> {
  const file = join(dir, 'seed.config.ts');
  // The seed never listens: the port only makes the config valid.
  await writeFile(file, configSource(config(join(dir, 'data'), await freePort()) as ConfigInput));
  const built = await buildPlan({ configPath: file, positions: false });
  if (!built.ok) throw new Error(`bench config invalid: ${JSON.stringify(built.diagnostics)}`);
  const log = pino({ level: 'silent' }) as never;
  const state = await createRuntimeState(built.plan, { env: { BENCH_UI_PASSWORD: PASSWORD }, log });
  try {
    const repository = state.repositories.get('apps');
    if (repository === undefined || !isWritable(repository)) throw new Error('apps is not writable');
    const image = buildImage({ seed: 'bench-ui', layers: 2, layerSize: 4096 });
    for (const blob of [image.config, ...image.layers]) {
      const started = await repository.startUpload(IMAGE);
      if (!('upload' in started)) continue;
      await repository.completeUpload(IMAGE, started.upload.id, blob.digest, Readable.from([blob.bytes]));
    }
    const body = JSON.parse(image.manifest.bytes.toString('utf8')) as Record<string, unknown>;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < TAGS; i = next++) {
        const manifest = Buffer.from(JSON.stringify({ ...body, annotations: { 'bench.index': String(i) } }));
        await repository.putManifest(IMAGE, tagName(i), manifest, MANIFEST);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    await state.dispose();
  }
}

const dirs = new TmpDirs();
const dir = await dirs.make('regctl-bench-ui-');
const seedStart = performance.now();
await seed(dir);
const seedSeconds = (performance.now() - seedStart) / 1000;
console.log(`seeded ${TAGS} tags in ${seedSeconds.toFixed(1)} s`);

const server = await startRegctl({
  dir,
  config: config(join(dir, 'data')),
  env: { BENCH_UI_PASSWORD: PASSWORD },
  logFile: join(await dirs.make('regctl-bench-ui-log-'), 'regctl.log'),
});
const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
const authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
const some = sha256('no such manifest'); // not a stored digest: the 404 path is timed too
/** A spot in the tag list for round `round` of `rounds`: every round reads tags no round read before. */
const spread = (round: number) => tagName(Math.floor(((round + 0.5) * (TAGS - 100)) / (ROUNDS + 1)));
/** Each page's URL for a round: lists and tags move through the image, so caches do not flatter them. */
const pages: [string, (round: number) => string][] = [
  ['repositories', () => '/ui/'],
  ['repository (images)', () => '/ui/r/apps'],
  ['tags, first page', () => `/ui/r/apps/${IMAGE}/-/tags`],
  ['tags, a page further on (50)', (round) => `/ui/r/apps/${IMAGE}/-/tags?last=${spread(round)}`],
  ['tags, 100 a page (the most)', (round) => `/ui/r/apps/${IMAGE}/-/tags?n=100&last=${spread(ROUNDS - round)}`],
  ['tags filtered (q=42)', () => `/ui/r/apps/${IMAGE}/-/tags?q=42`],
  ['one tag', (round) => `/ui/r/apps/${IMAGE}/-/tag/${tagName((round * 7919 + 13) % TAGS)}`],
  ['unknown digest (404)', () => `/ui/r/apps/${IMAGE}/-/m/${some}`],
  ['search (every tag name read)', (round) => `/ui/search?q=${tagName(round * 97).slice(0, 4)}`],
  ['plan', () => '/ui/plan'],
  ['reload history', () => '/ui/reloads'],
];

async function timed(path: string): Promise<{ ms: number; status: number; bytes: number }> {
  const start = performance.now();
  const response = await request(`${server.url}${path}`, { dispatcher: agent, headers: { authorization } });
  const body = await response.body.arrayBuffer();
  return { ms: performance.now() - start, status: response.statusCode, bytes: body.byteLength };
}

const rows: string[][] = [];
let worst = 0;
try {
  for (const [name, path] of pages) {
    const first = await timed(path(ROUNDS));
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) times.push((await timed(path(round))).ms);
    const max = Math.max(...times);
    worst = Math.max(worst, max);
    rows.push([
      name,
      String(first.status),
      `${(first.bytes / 1024).toFixed(1)} KiB`,
      `${first.ms.toFixed(1)}`,
      percentile(times, 50).toFixed(1),
      percentile(times, 95).toFixed(1),
      max.toFixed(1),
    ]);
  }
} finally {
  await agent.close();
  await server.stop();
  await dirs.cleanup();
}
console.log(`\n${TAGS} tags in one image, ${ROUNDS} requests per page after a first one (ms):\n`);
console.log(formatTable(['page', 'status', 'size', 'first', 'p50', 'p95', 'max'], rows));
console.log(`\nslowest request: ${worst.toFixed(1)} ms (target: every page under 200 ms)`);
