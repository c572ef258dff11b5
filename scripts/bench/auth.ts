/**
 * Micro-benchmark of `AccessController.authorize()`: what auth adds to each registry request.
 *
 *   node bin/run-ts.mjs scripts/bench/auth.ts [--iterations N] [--json]
 *
 * Cases: anonymous pull; Basic with cached credentials (an env plaintext user and a bcrypt user,
 * whose first request pays one bcrypt at cost 10, measured separately); Bearer with a cached
 * verified token. Each case runs a fixed number of iterations (bounded) after a warm-up, in one
 * process, so the ratios are what matter: absolute figures drift between machines and runs.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import Fastify from 'fastify';
import type { Plan } from '../../compiler/plan.ts';
import { type AuthRequest, createAccessController, type RepositoryScope } from '../../runtime/auth/index.ts';

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

/** Runs every case; `iterations` per case (default 200 000). */
export async function benchAuth(iterations = 200_000): Promise<AuthBenchResult[]> {
  const password = 'bench-password-1234';
  const hash = bcrypt.hashSync(password, 10);
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
  results.push(await measure('anonymous pull', iterations, () => access.authorize(anonymous, scope('public'))));
  const plain = request(basic('plain'));
  results.push(
    await measure('basic env plaintext, cached', iterations, () => access.authorize(plain, scope('private'))),
  );
  const hashed = request(basic('hashed'));
  results.push(await measure('basic bcrypt, cached', iterations, () => access.authorize(hashed, scope('private'))));
  const bearer = request(`Bearer ${token}`);
  results.push(await measure('bearer token, cached', iterations, () => access.authorize(bearer, scope('private'))));
  await access.close();
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, json: { type: 'boolean' } } });
  const results = await benchAuth(values.iterations === undefined ? undefined : Number(values.iterations));
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    const anonymous = results.find((result) => result.case === 'anonymous pull')!.opsPerSecond;
    console.log(`node ${process.version}, authorize() per case`);
    console.log(`${'case'.padEnd(40)} ${'ops/s'.padStart(10)} ${'µs/op'.padStart(10)} ${'vs anonymous'.padStart(13)}`);
    for (const result of results) {
      const ratio = (result.opsPerSecond / anonymous).toFixed(2);
      console.log(
        `${result.case.padEnd(40)} ${String(result.opsPerSecond).padStart(10)} ${String(result.microsecondsPerOp).padStart(10)} ${ratio.padStart(13)}`,
      );
    }
  }
}
