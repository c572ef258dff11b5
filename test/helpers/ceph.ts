/**
 * A real S3 server for tests: a one-node Ceph RADOS Gateway started by scripts/ceph/start.sh on
 * free loopback ports, once per test file, wiped on stop.
 *
 * Set `REGCTL_TEST_S3_ENDPOINT` (plus `REGCTL_TEST_S3_ACCESS_KEY`, `REGCTL_TEST_S3_SECRET_KEY`,
 * `REGCTL_TEST_S3_BUCKET`, optional `REGCTL_TEST_S3_REGION`) to reuse a running server instead.
 *
 * Nothing is skipped silently: when Ceph cannot start (packages missing, ports taken), `startCeph`
 * throws with the script's output, and the test file fails with that reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3BlobStorePlan } from '../../compiler/plan.ts';
import type { BlobStoreInput } from '../../schema/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const START = join(REPO, 'scripts/ceph/start.sh');
const STOP = join(REPO, 'scripts/ceph/stop.sh');
/** start.sh uses PORT (radosgw), PORT+1 (mon) and PORT+2..PORT+40 (osd). */
const PORT_SPAN = 41;

export interface CephS3 {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  readonly region: string;
  /** The variables a plan's env references point at (S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY). */
  readonly env: Readonly<Record<string, string>>;
  /** Wall time the start took (0 when reusing a running server). */
  readonly startMs: number;
  /** True when this helper started the server (and `stop` will wipe it). */
  readonly owned: boolean;
  /**
   * Runs `radosgw-admin ARGS` against this server (quotas and the like); throws with its output on
   * failure, and when the server is a reused one (REGCTL_TEST_S3_ENDPOINT: no admin access).
   */
  admin(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Starts (or reuses) the server; throws with the reason when it cannot. */
export async function startCeph(options: { bucket?: string } = {}): Promise<CephS3> {
  const reuse = process.env.REGCTL_TEST_S3_ENDPOINT;
  if (reuse) {
    const need = (name: string) => {
      const value = process.env[name];
      if (!value) throw new Error(`REGCTL_TEST_S3_ENDPOINT is set but ${name} is not`);
      return value;
    };
    return describe(
      reuse,
      need('REGCTL_TEST_S3_ACCESS_KEY'),
      need('REGCTL_TEST_S3_SECRET_KEY'),
      need('REGCTL_TEST_S3_BUCKET'),
      process.env.REGCTL_TEST_S3_REGION ?? 'us-east-1',
      0,
      false,
      async () => {},
    );
  }
  const bucket = options.bucket ?? 'regctl-test';
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await findPortSpan(PORT_SPAN);
    const dir = mkdtempSync(join(tmpdir(), 'regctl-ceph-'));
    const started = Date.now();
    const result = await run('bash', [START, dir, String(port), bucket], 180_000);
    if (result.code === 0) {
      const values = parseKeyValues(result.stdout);
      const stop = once(async () => {
        await run('bash', [STOP, dir, '--wipe'], 60_000);
      });
      const onExit = () => spawnSync('bash', [STOP, dir, '--wipe'], { stdio: 'ignore', timeout: 20_000 });
      process.once('exit', onExit);
      return describe(
        values.S3_ENDPOINT!,
        values.S3_ACCESS_KEY!,
        values.S3_SECRET_KEY!,
        values.S3_BUCKET!,
        values.S3_REGION ?? 'us-east-1',
        Date.now() - started,
        true,
        async () => {
          process.off('exit', onExit);
          await stop();
        },
        dir,
      );
    }
    lastError = `scripts/ceph/start.sh ${dir} ${port} exited ${result.code}:\n${result.stderr}${logTail(dir)}`;
    await run('bash', [STOP, dir, '--wipe'], 60_000);
    if (!/already in use/.test(result.stderr)) break; // only a port race is worth another try
  }
  throw new Error(`cannot start Ceph RADOS Gateway for the s3 tests.\n${lastError}`);
}

/**
 * A plan for an s3 store on this server with its own random `prefix`, so tests sharing the bucket
 * never see each other's keys. Endpoint, bucket and keys are env references into `ceph.env`.
 */
export function s3StorePlan(overrides: Partial<S3BlobStorePlan> = {}): S3BlobStorePlan {
  return {
    name: 's3',
    driver: 's3',
    bucket: { env: 'S3_BUCKET' },
    prefix: `test-${randomBytes(6).toString('hex')}`,
    region: 'us-east-1',
    endpoint: { env: 'S3_ENDPOINT' },
    forcePathStyle: true,
    credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
    redirect: false,
    partSize: 5 * 1024 * 1024,
    ...overrides,
  };
}

/**
 * The config (what a user writes) of an s3 blob store `default` on this server under `prefix`:
 * endpoint, bucket and keys as env references into `ceph.env`, path-style, 5 MiB parts.
 */
export function s3StoreConfig(
  prefix: string,
  overrides: Partial<Extract<BlobStoreInput, { type: 's3' }>> = {},
): Extract<BlobStoreInput, { type: 's3' }> {
  return {
    name: 'default',
    type: 's3',
    bucket: { env: 'S3_BUCKET' },
    endpoint: { env: 'S3_ENDPOINT' },
    region: 'us-east-1',
    forcePathStyle: true,
    prefix,
    partSize: '5MiB',
    credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
    ...overrides,
  };
}

function describe(
  endpoint: string,
  accessKeyId: string,
  secretAccessKey: string,
  bucket: string,
  region: string,
  startMs: number,
  owned: boolean,
  stop: () => Promise<void>,
  dir?: string,
): CephS3 {
  const env = { S3_ENDPOINT: endpoint, S3_BUCKET: bucket, S3_ACCESS_KEY: accessKeyId, S3_SECRET_KEY: secretAccessKey };
  const admin = async (args: readonly string[]) => {
    if (dir === undefined) throw new Error('radosgw-admin needs a Ceph started by this helper');
    const result = await run('radosgw-admin', ['-c', join(dir, 'ceph.conf'), '-n', 'client.admin', ...args], 60_000);
    if (result.code !== 0) throw new Error(`radosgw-admin ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  };
  return { endpoint, accessKeyId, secretAccessKey, bucket, region, env, startMs, owned, stop, admin };
}

function parseKeyValues(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

function logTail(dir: string): string {
  for (const name of ['client.rgw.s3.log', 'osd.0.log', 'mon.a.log']) {
    try {
      const text = readFileSync(join(dir, 'log', name), 'utf8');
      return `\n--- ${name} (tail) ---\n${text.split('\n').slice(-15).join('\n')}`;
    } catch {
      // not written yet
    }
  }
  return '';
}

function once(action: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= action();
    return done;
  };
}

function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error) => resolvePromise({ code: -1, stdout, stderr: `${stderr}${error.message}` }));
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** A base port whose next `span` ports are all free on 127.0.0.1 right now. */
async function findPortSpan(span: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let port = base; port < base + span && free; port++) free = await isFree(port);
    if (free) return base;
  }
  throw new Error(`no run of ${span} free loopback ports found for Ceph`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}
