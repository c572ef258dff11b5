/**
 * Small pure helpers of the proxy repository: secret resolution, the identity that decides whether
 * a reload may keep the upstream client, and the one translation of upstream and storage failures
 * into `RegistryError`s.
 */
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson, type ProxyRepositoryPlan, type SecretRef } from '../../compiler/plan.ts';
import { isRegistryError, RegistryError } from '../errors.ts';
import type { Digest } from '../storage/blob-store.ts';
import { UpstreamError } from '../upstream/errors.ts';

/** Resolves a literal or an env reference; a missing variable is a startup error naming it. */
export function resolveSecret(value: string | SecretRef, env: NodeJS.ProcessEnv, what: string): string {
  if (typeof value === 'string') return value;
  const resolved = env[value.env];
  if (resolved === undefined) throw new Error(`${what}: environment variable ${value.env} is not set`);
  return resolved;
}

/** The identity of everything the upstream client is built from (reuse across reloads iff equal). */
export function clientIdentity(plan: ProxyRepositoryPlan, env: NodeJS.ProcessEnv): string {
  const secret = (ref: SecretRef | string | undefined) =>
    ref === undefined ? null : typeof ref === 'string' ? ref : (env[ref.env] ?? null);
  return canonicalJson({
    remote: plan.remote,
    httpProxy: plan.httpProxy,
    username: secret(plan.remote.auth?.username),
    password: secret(plan.remote.auth?.password),
    proxyPassword: secret(plan.httpProxy?.auth?.password),
    negativeCacheTtlMs: plan.negativeCacheTtlMs,
  });
}

/** The BLOB_UNKNOWN error of a digest. */
export function blobUnknown(image: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', { detail: { name: image, digest } });
}

/**
 * Translates a failure below the proxy into what its client sees: upstream 404 (and 401/403,
 * which Docker Hub sends for images that do not exist) → `notFound`; 429 → TOOMANYREQUESTS with
 * Retry-After; anything else upstream → UNAVAILABLE (503) naming the repository; storage
 * NOT_FOUND → `notFound`; the rest → UNKNOWN, logged.
 */
export function translateProxyError(
  error: unknown,
  notFound: RegistryError,
  context: { repository: string; url: string; log: FastifyBaseLogger },
): RegistryError {
  if (isRegistryError(error)) return error;
  const { repository, url, log } = context;
  if (error instanceof UpstreamError) {
    switch (error.code) {
      case 'UPSTREAM_NOT_FOUND':
        return notFound;
      case 'UPSTREAM_UNAUTHORIZED':
        log.warn({ err: error }, 'upstream refused access');
        return notFound;
      case 'UPSTREAM_RATE_LIMITED':
        return new RegistryError('TOOMANYREQUESTS', {
          message: `proxy repository ${repository}: the upstream ${url} rate-limits us and nothing is cached`,
          headers: { 'Retry-After': String(error.retryAfterSeconds ?? 60) },
          cause: error,
        });
      default:
        log.warn({ err: error }, 'upstream unavailable and nothing cached');
        return new RegistryError('UNAVAILABLE', {
          message: `proxy repository ${repository}: the upstream ${url} is unavailable (${error.code}) and nothing is cached`,
          cause: error,
        });
    }
  }
  if ((error as { code?: string } | null)?.code === 'STORAGE_NOT_FOUND') return notFound;
  log.error({ err: error }, 'proxy repository operation failed');
  return new RegistryError('UNKNOWN', { cause: error });
}
