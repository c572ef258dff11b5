/**
 * The manifest half of a proxy repository: serving from the cache, tag revalidation, upstream
 * fetches (coalesced), and stale serving. Split from proxy.ts to keep each file readable; the
 * repository passes its parts in a {@link ProxyManifestContext}.
 */
import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyRepositoryPlan } from '../../../compiler/plan.ts';
import type { CacheResult, ProxyObserver } from '../../events.ts';
import { digestOf, isDigest } from '../../oci/digest.ts';
import { RegistryError } from '../../oci/errors.ts';
import { isGenericContentType, OCI_INDEX, OCI_MANIFEST } from '../../oci/media-types.ts';
import type { BlobStore, Digest } from '../../storage/blob-store.ts';
import type { UpstreamEndpoints } from '../../upstream/endpoints.ts';
import { isUpstreamError, isUpstreamUnavailable, UpstreamError } from '../../upstream/errors.ts';
import type { SingleFlight } from '../../upstream/single-flight.ts';
import type { Manifest } from '../repository.ts';
import type { NegativeCache, ProxyCache } from './cache-records.ts';

/** The parts of a proxy repository the manifest logic uses. */
export interface ProxyManifestContext {
  readonly repository: string;
  readonly plan: ProxyRepositoryPlan;
  readonly store: BlobStore;
  readonly cache: ProxyCache;
  readonly client: UpstreamEndpoints;
  readonly negative: NegativeCache;
  readonly flights: SingleFlight<ManifestFetch>;
  readonly observer: ProxyObserver;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  readonly translate: (error: unknown, notFound: RegistryError) => RegistryError;
}

/** What one upstream round (download or revalidation) gave: the manifest and how it was answered. */
export interface ManifestFetch {
  readonly manifest: Manifest;
  readonly result: CacheResult;
}

/** The MANIFEST_UNKNOWN error of a reference. */
function manifestUnknown(image: string, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', { detail: { name: image, reference } });
}

/** The media type of a fetched manifest: the Content-Type, else the body's own, else its shape. */
function mediaTypeOf(contentType: string, body: Buffer): string {
  if (!isGenericContentType(contentType)) return contentType;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
    return Array.isArray(parsed.manifests) ? OCI_INDEX : OCI_MANIFEST;
  } catch {
    return contentType || OCI_MANIFEST;
  }
}

/** The cached manifest `digest` of `name`, or undefined. */
async function readCached(ctx: ProxyManifestContext, name: string, digest: Digest): Promise<Manifest | undefined> {
  const link = await ctx.cache.getManifestLink(name, digest);
  if (link === undefined) return undefined;
  let stream: Readable;
  try {
    stream = await ctx.store.read(digest);
  } catch (error) {
    if ((error as { code?: string }).code === 'STORAGE_NOT_FOUND') return undefined;
    throw error;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return { digest, mediaType: link.mediaType, size: body.length, body };
}

/** Options of {@link fetchManifest} for the proxy's own prefetch (runtime/prefetch/). */
export interface FetchManifestOptions {
  /** Revalidate a cached tag checked longer ago than this (default: the plan's metadataMaxAge). */
  readonly maxAgeMs?: number;
  /** Told how the request was answered (hit, miss, stale, negative). */
  readonly onResult?: (result: CacheResult) => void;
}

/**
 * Serves a manifest of `name` (already normalised to the upstream name) by tag or digest; see the
 * module comment of proxy.ts for the caching rules.
 */
export async function fetchManifest(
  ctx: ProxyManifestContext,
  name: string,
  reference: string,
  options: FetchManifestOptions = {},
): Promise<Manifest> {
  const notFound = manifestUnknown(name, reference);
  // How this request is counted: a miss unless the cache answered (a failed fetch is a miss too).
  let result: CacheResult = 'miss';
  const coalesced = async (key: string, work: () => Promise<ManifestFetch>): Promise<Manifest> => {
    const { promise, joined } = ctx.flights.run(key, work);
    if (joined) ctx.observer.coalesced('manifest');
    const fetched = await promise;
    result = fetched.result;
    return fetched.manifest;
  };
  try {
    if (isDigest(reference)) {
      const cached = await readCached(ctx, name, reference);
      if (cached !== undefined) {
        result = 'hit';
        return cached;
      }
      if (ctx.plan.offline) throw notFound;
      if (ctx.negative.has(`m:${name}@${reference}`)) {
        result = 'negative';
        throw notFound;
      }
      return await coalesced(`${name}@${reference}`, async () => ({
        manifest: await download(ctx, name, reference, undefined),
        result: 'miss',
      }));
    }
    const tag = await ctx.cache.getTag(name, reference);
    const cached = tag === undefined ? undefined : await readCached(ctx, name, tag.digest);
    const maxAgeMs = options.maxAgeMs ?? ctx.plan.metadataMaxAgeMs;
    if (cached !== undefined && (ctx.plan.offline || ctx.now() - tag!.checkedAt < maxAgeMs)) {
      result = 'hit';
      return cached;
    }
    if (ctx.plan.offline) throw notFound;
    if (cached === undefined && ctx.negative.has(`m:${name}:${reference}`)) {
      result = 'negative';
      throw notFound;
    }
    return await coalesced(`${name}:${reference}`, () => revalidate(ctx, name, reference, cached));
  } catch (error) {
    throw ctx.translate(error, notFound);
  } finally {
    ctx.observer.cache('manifest', result);
    options.onResult?.(result);
  }
}

/** A stale tag: HEAD upstream; unchanged → keep the cached copy; moved → download; down → stale. */
async function revalidate(
  ctx: ProxyManifestContext,
  name: string,
  tag: string,
  cached: Manifest | undefined,
): Promise<ManifestFetch> {
  if (cached !== undefined) {
    try {
      const head = await ctx.client.headManifest(name, tag);
      if (head.digest === cached.digest) {
        ctx.observer.revalidation('unchanged');
        await ctx.cache.setTag(name, tag, { digest: cached.digest, mediaType: cached.mediaType, checkedAt: ctx.now() });
        return { manifest: cached, result: 'hit' };
      }
      ctx.observer.revalidation('changed');
    } catch (error) {
      if (isUpstreamUnavailable(error)) {
        ctx.observer.revalidation('failed');
        ctx.log.warn({ err: error, image: name, tag }, 'upstream unavailable: serving the cached manifest (stale)');
        return { manifest: cached, result: 'stale' };
      }
      if (isUpstreamError(error, 'UPSTREAM_NOT_FOUND')) {
        ctx.observer.revalidation('changed');
        // The tag is gone upstream: forget it here too, so the cache mirrors the upstream.
        await ctx.cache.deleteTag(name, tag);
        ctx.negative.add(`m:${name}:${tag}`);
      } else ctx.observer.revalidation('failed');
      throw error;
    }
  }
  try {
    return { manifest: await download(ctx, name, tag, tag), result: 'miss' };
  } catch (error) {
    if (cached !== undefined && isUpstreamUnavailable(error)) {
      ctx.log.warn({ err: error, image: name, tag }, 'upstream unavailable: serving the cached manifest (stale)');
      return { manifest: cached, result: 'stale' };
    }
    throw error;
  }
}

/** GETs a manifest upstream, verifies its digest, caches it (and the tag when `tag` is set). */
async function download(
  ctx: ProxyManifestContext,
  name: string,
  reference: string,
  tag: string | undefined,
): Promise<Manifest> {
  let fetched: Awaited<ReturnType<UpstreamEndpoints['getManifest']>>;
  try {
    fetched = await ctx.client.getManifest(name, reference);
  } catch (error) {
    if (isUpstreamError(error, 'UPSTREAM_NOT_FOUND'))
      ctx.negative.add(tag === undefined ? `m:${name}@${reference}` : `m:${name}:${tag}`);
    throw error;
  }
  const expected = tag === undefined ? reference : fetched.digest;
  const algorithm = expected?.startsWith('sha512:') ? 'sha512' : 'sha256';
  const digest = digestOf(fetched.body, algorithm);
  if (expected !== undefined && expected !== digest) {
    throw new UpstreamError(
      'UPSTREAM_BAD_RESPONSE',
      `manifest ${name}:${reference}: upstream body hashes to ${digest}, not ${expected}`,
    );
  }
  const mediaType = mediaTypeOf(fetched.mediaType, fetched.body);
  await ctx.store.putBlob(digest, Readable.from([fetched.body]), fetched.body.length);
  await ctx.cache.linkManifest(name, digest, { mediaType, size: fetched.body.length });
  if (tag !== undefined) await ctx.cache.setTag(name, tag, { digest, mediaType, checkedAt: ctx.now() });
  ctx.negative.delete(`m:${name}:${reference}`);
  ctx.negative.delete(`m:${name}@${reference}`);
  return { digest, mediaType, size: fetched.body.length, body: fetched.body };
}
