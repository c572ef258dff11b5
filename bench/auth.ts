/**
 * Micro-benchmark of `AccessController.authorize()`: what auth adds to each registry request.
 *
 *   node bin/run-ts.mjs bench/auth.ts [--iterations N] [--json]
 *
 * Cases: anonymous pull; Basic with cached credentials (an env plaintext user and a bcrypt user,
 * whose first request pays one bcrypt at cost 10, measured separately); Bearer with a cached
 * verified token. Each case runs a fixed number of iterations (bounded) after a warm-up, three
 * interleaved rounds keeping the best, in one process, so the ratios are what matter: absolute figures drift between machines and runs.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hashSync } from '@node-rs/bcrypt';
import Fastify from 'fastify';
import type { Plan } from '../compiler/plan.ts';
import { type AuthRequest, createAccessController, type RepositoryScope } from '../runtime/auth/index.ts';

export interface AuthBenchResult {
  readonly case: string;
  readonly iterations: number;
  readonly opsPerSecond: number;
  readonly microsecondsPerOp: number;
}

function benchPlan(bcryptHash: string): Plan {
  const hosted = (name: string, anonymous: ('pull' | 'push')[]) =>
    ({
      name,
      type: 'hosted',
      online: true,
      blobStore: 'default',
      access: { anonymous },
      deploymentPolicy: 'allowRedeploy',
    }) as const;
  const permissions = [{ repositories: ['private*'], actions: ['pull', 'push'] as ('pull' | 'push')[] }];
  return {
    id: 'bench',
    version: 1,
    blobStores: { default: { name: 'default', driver: 'file', path: '/nonexistent' } },
    repositories: { public: hosted('public', ['pull']), private: hosted('private', []) },
    listeners: [],
    security: {
      realm: 'bench',
      users: [
        { name: 'plain', password: { env: 'BENCH_PLAIN' }, roles: ['dev'], permissions },
        { name: 'hashed', password: { bcrypt: bcryptHash }, roles: ['dev'], permissions },
      ],
      roles: { dev: permissions },
      token: { enabled: true, issuer: 'bench', service: 'bench', ttlMs: 3_600_000, signingKey: null },
    },
  };
}

async function measure(name: string, iterations: number, op: () => Promise<unknown>): Promise<AuthBenchResult> {
  for (let i = 0; i < Math.min(iterations, 10_000); i++) await op();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await op();
  const seconds = (performance.now() - start) / 1000;
  return {
    case: name,
    iterations,
    opsPerSecond: Math.round(iterations / seconds),
    microsecondsPerOp: Number(((seconds * 1e6) / iterations).toFixed(2)),
  };
}

/**
 * Runs the cases round-robin `rounds` times and keeps each one's best round: interleaving spreads
 * JIT warm-up and GC pauses over all cases instead of penalising whichever ran first.
 */
async function measureBest(
  cases: readonly [string, () => Promise<unknown>][],
  iterations: number,
  rounds = 3,
): Promise<AuthBenchResult[]> {
  const best = new Map<string, AuthBenchResult>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of cases) {
      const result = await measure(name, iterations, op);
      if ((best.get(name)?.opsPerSecond ?? 0) < result.opsPerSecond) best.set(name, result);
    }
  }
  return cases.map(([name]) => best.get(name)!);
}

/** Runs every case; `iterations` per case (default 200 000). */
export async function benchAuth(iterations = 200_000): Promise<AuthBenchResult[]> {
  const password = 'bench-password-1234';
  const hash = hashSync(password, 10);
  const log = Fastify({ logger: false }).log;
  const access = await createAccessController(benchPlan(hash), { env: { BENCH_PLAIN: password }, log });
  const request = (authorization?: string): AuthRequest => ({
    headers: authorization === undefined ? {} : { authorization },
    host: '127.0.0.1:5000',
    protocol: 'http',
    ip: '127.0.0.1',
  });
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const scope = (repository: string): RepositoryScope => ({ name: `${repository}/app`, repository, actions: ['pull'] });
  const { token } = await access.issueToken(
    request(basic('plain')),
    { scope: ['repository:private/app:pull'] },
    () => 'private',
  );

  const results: AuthBenchResult[] = [];
  const firstBasic = performance.now();
  await access.authorize(request(basic('hashed')), scope('private'));
  const coldMs = performance.now() - firstBasic;
  results.push({
    case: 'basic bcrypt, first request (cost 10)',
    iterations: 1,
    opsPerSecond: Math.round(1000 / coldMs),
    microsecondsPerOp: Math.round(coldMs * 1000),
  });

  const anonymous = request();
  const plain = request(basic('plain'));
  const hashed = request(basic('hashed'));
  const bearer = request(`Bearer ${token}`);
  results.push(
    ...(await measureBest(
      [
        ['anonymous pull', () => access.authorize(anonymous, scope('public'))],
        ['basic env plaintext, cached', () => access.authorize(plain, scope('private'))],
        ['basic bcrypt, cached', () => access.authorize(hashed, scope('private'))],
        ['bearer token, cached', () => access.authorize(bearer, scope('private'))],
      ],
      iterations,
    )),
  );

  // The same three cases through a minimal fastify route (in-process inject, no sockets): what a
  // request costs in full, so the auth share of an authenticated GET can be read off the ratio.
  const app = Fastify({ logger: false });
  app.get('/v2/private/app/manifests/latest', async (req) => {
    const auth: AuthRequest = { headers: req.headers, host: req.host, protocol: 'http', ip: req.ip };
    await access.authorize(auth, scope(req.headers.authorization === undefined ? 'public' : 'private'));
    return { schemaVersion: 2 };
  });
  await app.ready();
  const injected = Math.max(1, Math.floor(iterations / 10));
  const get = (authorization?: string) => () =>
    app.inject({
      method: 'GET',
      url: '/v2/private/app/manifests/latest',
      headers: authorization ? { authorization } : {},
    });
  results.push(
    ...(await measureBest(
      [
        ['GET via inject, anonymous', get()],
        ['GET via inject, basic bcrypt cached', get(basic('hashed'))],
        ['GET via inject, bearer cached', get(`Bearer ${token}`)],
      ],
      injected,
    )),
  );
  await app.close();
  await access.close();
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, json: { type: 'boolean' } } });
  const results = await benchAuth(values.iterations === undefined ? undefined : Number(values.iterations));
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    // Ratios against the first anonymous case of the same group (bare authorize(), or via inject).
    const baseline = (name: string) =>
      results.find(
        (result) => result.case === (name.startsWith('GET') ? 'GET via inject, anonymous' : 'anonymous pull'),
      )!.opsPerSecond;
    console.log(`node ${process.version}, authorize() per case`);
    console.log(`${'case'.padEnd(40)} ${'ops/s'.padStart(10)} ${'µs/op'.padStart(10)} ${'vs anonymous'.padStart(13)}`);
    for (const result of results) {
      const ratio = (result.opsPerSecond / baseline(result.case)).toFixed(2);
      console.log(
        `${result.case.padEnd(40)} ${String(result.opsPerSecond).padStart(10)} ${String(result.microsecondsPerOp).padStart(10)} ${ratio.padStart(13)}`,
      );
    }
  }
}
