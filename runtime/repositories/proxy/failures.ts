/**
 * The one translation of a proxy repository's upstream and storage failures into
 * `RegistryError`s, and the errors it shares.
 */
import type { FastifyBaseLogger } from 'fastify';
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import type { Digest } from '../../storage/blob-store.ts';
import { UpstreamError, withoutUserinfo } from '../../upstream/errors.ts';

/** The BLOB_UNKNOWN error of a digest. */
export function blobUnknown(image: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', { detail: { name: image, digest } });
}

/** How each upstream failure reads to the client, after `proxy repository R: `. */
function describe(error: UpstreamError, upstream: string, at: string | undefined): string {
  const { reason } = error;
  switch (error.code) {
    case 'UPSTREAM_TIMEOUT':
      return `the upstream ${upstream} timed out ${reason}, and nothing is cached`;
    case 'UPSTREAM_UNREACHABLE':
      return `the upstream ${upstream} is unreachable (${reason}) and nothing is cached`;
    case 'UPSTREAM_PROXY_REFUSED':
      return `the upstream ${upstream} is unreachable: ${reason}, and nothing is cached`;
    case 'UPSTREAM_CREDENTIALS_REFUSED':
      return `the upstream ${upstream} refused our credentials (${reason}) and nothing is cached; check remote.auth`;
    case 'UPSTREAM_RATE_LIMITED': {
      const retry = error.retryAfterSeconds === undefined ? '' : `, retry after ${error.retryAfterSeconds}s (at ${at})`;
      return `the upstream ${upstream} rate-limits us (429${retry}) and nothing is cached`;
    }
    case 'UPSTREAM_UNAUTHORIZED':
      return (
        `the upstream ${upstream} refused access (${reason}); registries answer so for images that do not ` +
        'exist, or that need credentials (remote.auth)'
      );
    default:
      return `the upstream ${upstream} answered unexpectedly (${reason}) and nothing is cached`;
  }
}

/** When a rate-limited upstream may be asked again, as an ISO time. */
function retryAt(error: UpstreamError, seconds: number): string {
  return new Date(error.retryAt ?? Date.now() + seconds * 1000).toISOString();
}

/**
 * Translates a failure below the proxy into what its client sees, saying why in the message and
 * in `detail` (`repository`, `upstream` = the endpoint that failed, `reason`, `upstreamError` = the
 * upstream code, and for a 429 `retryAfterSeconds` and `retryAt`). The log
 * gets the same message once, at warn: for a 503 from the HTTP error handler (which logs every 5xx
 * with its request id), for the others (a 404 or 429 it does not log) from here.
 * - upstream 404 → `notFound`, as is;
 * - 401/403 for the image, anonymously or with a token (Docker Hub's answer for images that do not
 *   exist) → `notFound`, its message saying the upstream refused access;
 * - 429 → TOOMANYREQUESTS with Retry-After;
 * - unreachable, timed out, refused by the outbound proxy, our credentials refused, anything else
 *   upstream → UNAVAILABLE (503);
 * - storage NOT_FOUND → `notFound`; the rest → UNKNOWN, logged.
 * No secret reaches a message or the log: reasons carry none (see upstream/errors.ts), and URLs
 * are shown without userinfo.
 */
export function translateProxyError(
  error: unknown,
  notFound: RegistryError,
  context: { repository: string; url: string; log: FastifyBaseLogger },
): RegistryError {
  if (isRegistryError(error)) return error;
  const { repository, log } = context;
  if (error instanceof UpstreamError) {
    if (error.code === 'UPSTREAM_NOT_FOUND') return notFound;
    const upstream = error.endpoint ?? withoutUserinfo(context.url);
    const at =
      error.code === 'UPSTREAM_RATE_LIMITED' && error.retryAfterSeconds !== undefined
        ? retryAt(error, error.retryAfterSeconds)
        : undefined;
    const why = `proxy repository ${repository}: ${describe(error, upstream, at)}`;
    const facts = {
      repository,
      upstream,
      reason: error.reason,
      upstreamError: error.code,
      ...(error.status === undefined ? {} : { upstreamStatus: error.status }),
      ...(at === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds, retryAt: at }),
    };
    let translated: RegistryError;
    if (error.code === 'UPSTREAM_UNAUTHORIZED') {
      const detail = typeof notFound.detail === 'object' && notFound.detail !== null ? notFound.detail : {};
      translated = new RegistryError(notFound.code, {
        message: `${notFound.message}: ${why}`,
        detail: { ...detail, ...facts },
        cause: error,
      });
    } else if (error.code === 'UPSTREAM_RATE_LIMITED') {
      translated = new RegistryError('TOOMANYREQUESTS', {
        message: why,
        detail: facts,
        headers: { 'Retry-After': String(error.retryAfterSeconds ?? 60) },
        cause: error,
      });
    } else {
      translated = new RegistryError('UNAVAILABLE', { message: why, detail: facts, cause: error });
    }
    if (translated.status < 500) {
      const upstreamMessage = error.upstreamMessage === undefined ? {} : { upstreamMessage: error.upstreamMessage };
      log.warn({ ...(translated.detail as object), ...upstreamMessage }, translated.message);
    }
    return translated;
  }
  if ((error as { code?: string } | null)?.code === 'STORAGE_NOT_FOUND') return notFound;
  log.error({ err: error }, 'proxy repository operation failed');
  return new RegistryError('UNKNOWN', { cause: error });
}
