/**
 * Setup shared by the proxy and group tests: a quiet logger, a proxy repository plan with test
 * defaults, proxy repositories over the in-memory store that are closed together, reading a
 * `BlobResponse` to the end, and seeding a real upstream registry (distribution) over the v2 API.
 */
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { expect } from 'vitest';
import type { ProxyRepositoryPlan } from '../../compiler/plan.ts';
import {
  createProxyRepository,
  type ProxyRepository,
  type ProxyRepositoryDeps,
} from '../../runtime/repositories/proxy/proxy.ts';
import type { BlobResponse } from '../../runtime/repositories/repository.ts';
import { createMemoryBlobStore } from '../../runtime/storage/drivers/memory.ts';
import type { Image } from './oci-image.ts';

/** A logger that drops everything; `onWarn` receives the message of each warning. */
export function testLog(onWarn?: (message: string) => void): FastifyBaseLogger {
  const log = {
    level: 'info',
    debug() {},
    info() {},
    trace() {},
    fatal() {},
    error() {},
    silent() {},
    warn(_fields: unknown, message?: string) {
      onWarn?.(String(message));
    },
    child() {
      return log;
    },
  };
  return log as unknown as FastifyBaseLogger;
}

/** What a test may change in {@link proxyPlan}: any field, and single fields of `remote`. */
export type ProxyPlanOverrides = Omit<Partial<ProxyRepositoryPlan>, 'remote'> & {
  remote?: Partial<ProxyRepositoryPlan['remote']>;
};

/** The plan of a proxy repository `upstream` in front of `url` (plain registry, 2 s timeout). */
export function proxyPlan(url: string, overrides: ProxyPlanOverrides = {}): ProxyRepositoryPlan {
  const { remote, ...rest } = overrides;
  return {
    name: 'upstream',
    type: 'proxy',
    online: true,
    blobStore: 'default',
    access: { anonymous: ['pull'] },
    remote: { url, index: 'registry', auth: null, timeoutMs: 2000, ...remote },
    metadataMaxAgeMs: 60_000,
    negativeCacheTtlMs: 60_000,
    offline: false,
    httpProxy: null,
    ...rest,
  };
}

/** Creates proxy repositories (over a fresh memory store unless given one) and closes them all at once. */
export class TestProxies {
  readonly #defaults: Partial<ProxyRepositoryDeps>;
  readonly #open: ProxyRepository[] = [];

  constructor(defaults: Partial<ProxyRepositoryDeps> = {}) {
    this.#defaults = defaults;
  }

  create(plan: ProxyRepositoryPlan, deps: Partial<ProxyRepositoryDeps> = {}): ProxyRepository {
    const repository = createProxyRepository(plan, {
      store: createMemoryBlobStore(),
      env: {},
      log: testLog(),
      ...this.#defaults,
      ...deps,
    });
    this.#open.push(repository);
    return repository;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#open.splice(0).map((repository) => repository.close()));
  }
}

/** The bytes of a streamed blob response (rejects with the stream's error, or on a redirect). */
export async function readBlob(response: BlobResponse): Promise<Buffer> {
  if (!('stream' in response.body)) throw new Error('expected a stream, got a redirect');
  const chunks: Buffer[] = [];
  for await (const chunk of response.body.stream as Readable) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Pushes `image` as `name:tag` into a registry at `base` over the v2 API (monolithic uploads). */
export async function pushImage(base: string, name: string, tag: string, image: Image, authorization?: string) {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  for (const blob of [image.config, ...image.layers]) {
    const started = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get('location')!, base);
    location.searchParams.set('digest', blob.digest);
    const done = await fetch(location, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: blob.bytes,
    });
    expect(done.status).toBe(201);
  }
  const put = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  expect(put.status).toBe(201);
}
