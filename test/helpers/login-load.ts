/**
 * Load for the login-abuse test and benchmark (test/e2e/login-abuse.test.ts,
 * bench/login-abuse.ts): a flood of bogus Basic logins from a child process, a client
 * timing authenticated blob pulls, and timed failed logins.
 *
 * The flood runs in its own Node process, so the client whose latency is measured never competes
 * with the attacker for its own event loop: what it measures is the server. Every bogus request
 * carries a fresh random user name and password, so no credential cache can answer it. Every
 * loop is bounded by a deadline and a request count; everything talks to 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import type { TestConfig } from './regctl-server.ts';

/** A user of {@link usersConfig}: a password from env `env`, or a bcrypt hash in the config. */
export type LoadUser = { readonly name: string } & ({ readonly env: string } | { readonly bcrypt: string });

/**
 * Hosted repository `private` (the listener's default) with forced authentication, `users` (each
 * with pull, push and delete there) and `security` merged into the security section.
 */
export function usersConfig(users: readonly LoadUser[], security: object = {}): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [{ name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: [] }],
    listeners: [{ host: '127.0.0.1', repository: 'private' }],
    security: {
      users: users.map((user) => ({
        name: user.name,
        password: 'env' in user ? { env: user.env } : { bcrypt: user.bcrypt },
        roles: ['developer'],
      })),
      roles: { developer: [{ repositories: ['private'], actions: ['pull', 'push', 'delete'] }] },
      ...security,
    },
  };
}

/** `Authorization` value of Basic credentials. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** The `p`-th percentile (0–100) of `values`, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Pushes `size` random bytes as a blob of `name` (monolithic upload) and returns its digest. */
export async function pushBlob(url: string, name: string, authorization: string, size: number): Promise<string> {
  const data = randomBytes(size);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const res = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/octet-stream' },
    body: data,
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`pushing a blob to ${name}: HTTP ${res.status}`);
  return digest;
}

/** What {@link startLoginFlood} reports once its deadline has passed. */
export interface FloodResult {
  readonly requests: number;
  readonly seconds: number;
  /** Requests per second. */
  readonly rate: number;
  /** Answers by HTTP status (`error` for a failed request). */
  readonly statuses: Readonly<Record<string, number>>;
}

/** A running flood; {@link done} resolves after its deadline. */
export interface LoginFlood {
  readonly done: Promise<FloodResult>;
}

/**
 * The flood's program, run with `node --input-type=module`: `connections` keep-alive connections,
 * each sending `GET path` with random Basic credentials one after the other until the deadline.
 */
const FLOOD_PROGRAM = `
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
const [port, path, connections, seconds, maxRequests] = JSON.parse(process.argv[1]);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const deadline = performance.now() + seconds * 1000;
const statuses = {};
let requests = 0;
const started = performance.now();
function once() {
  const user = 'bogus-' + randomBytes(6).toString('hex');
  const password = randomBytes(12).toString('hex');
  const authorization = 'Basic ' + Buffer.from(user + ':' + password).toString('base64');
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', () => resolve('error'));
    });
    req.setTimeout(30_000, () => req.destroy());
    req.on('error', () => resolve('error'));
    req.end();
  });
}
async function lane() {
  while (performance.now() < deadline && requests < maxRequests) {
    requests++;
    const status = await once();
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 'error') await new Promise((r) => setTimeout(r, 10));
  }
}
await Promise.all(Array.from({ length: connections }, lane));
const elapsed = (performance.now() - started) / 1000;
agent.destroy();
process.stdout.write(JSON.stringify({ requests, seconds: elapsed, rate: requests / elapsed, statuses }));
`;

/**
 * Starts a flood of bogus logins against `port` (127.0.0.1) for `seconds` (at most `maxRequests`
 * requests in all) over `connections` keep-alive connections, in a child process.
 */
export function startLoginFlood(options: {
  port: number;
  path?: string;
  connections: number;
  seconds: number;
  maxRequests?: number;
}): LoginFlood {
  const args = [options.port, options.path ?? '/v2/', options.connections, options.seconds, options.maxRequests ?? 1e6];
  const child = spawn(process.execPath, ['--input-type=module', '-e', FLOOD_PROGRAM, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 60) * 1000);
  const done = new Promise<FloodResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      if (code === 0) resolve(JSON.parse(stdout) as FloodResult);
      else reject(new Error(`login flood exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
  return { done };
}

/**
 * Times `GET path` with `authorization` on one keep-alive connection, one request after the other,
 * `count` times or until `seconds` have passed; the body is read and dropped. Throws on any
 * answer but 200. Returns each request's latency in ms.
 */
export async function timePulls(options: {
  url: string;
  path: string;
  authorization: string;
  count: number;
  seconds: number;
  /** Pause between two pulls, ms (default 0). */
  pauseMs?: number;
}): Promise<number[]> {
  const client = new Client(options.url, { pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  const deadline = performance.now() + options.seconds * 1000;
  try {
    for (let i = 0; i < options.count && performance.now() < deadline; i++) {
      const started = performance.now();
      const res = await client.request({
        method: 'GET',
        path: options.path,
        headers: { authorization: options.authorization },
      });
      await res.body.dump({ limit: Number.POSITIVE_INFINITY });
      if (res.statusCode !== 200) throw new Error(`GET ${options.path}: HTTP ${res.statusCode}`);
      latencies.push(performance.now() - started);
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  } finally {
    await client.close();
  }
  return latencies;
}

/**
 * Times failed logins (`GET /v2/` with each user name and a fresh wrong password), alternating
 * between the names so that both see the same moments of the machine, `rounds` times each.
 * Every answer must be `expect` (401 for a refusal). Returns the latencies (ms) per name.
 */
export async function timeFailedLogins(options: {
  url: string;
  users: readonly string[];
  rounds: number;
  expect?: number;
}): Promise<Map<string, number[]>> {
  const client = new Client(options.url, { pipelining: 1, keepAliveTimeout: 60_000 });
  const timings = new Map<string, number[]>(options.users.map((user) => [user, []]));
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const user of options.users) {
        const authorization = basicAuthorization(user, `wrong-${randomBytes(8).toString('hex')}`);
        const started = performance.now();
        const res = await client.request({ method: 'GET', path: '/v2/', headers: { authorization } });
        await res.body.dump();
        const elapsed = performance.now() - started;
        if (res.statusCode !== (options.expect ?? 401))
          throw new Error(`failed login of ${user}: HTTP ${res.statusCode}`);
        timings.get(user)!.push(elapsed);
      }
    }
  } finally {
    await client.close();
  }
  return timings;
}
