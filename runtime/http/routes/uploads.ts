/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, single-POST monolithic with `?digest=`,
 * or cross-image mount with `?mount=&from=`), `PATCH|PUT|GET|DELETE …/uploads/<id>`.
 *
 * Bodies reach the repository as the raw request stream. A mount's `from` is a client-visible
 * name: it is routed like any name, needs pull access, and is mounted only when it lands in the
 * same repository (an image of another repository may live in another store); otherwise, or when
 * pull on `from` is refused, the POST quietly falls back to a normal upload session (202), which
 * is what clients expect from a registry that cannot mount. See {@link mountSource}.
 */
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import { assertValidDigest, isValidName } from '../../oci/names.ts';
import type { UploadStatus } from '../../repositories/repository.ts';
import type { BlobInfo } from '../../storage/blob-store.ts';
import { bodyStream, isEmptyBody } from '../body.ts';
import type { ApiCall, WriteTarget } from '../context.ts';
import { CONTENT_DIGEST_HEADER, formatUploadRange, parseContentRange, UPLOAD_UUID_HEADER } from '../headers.ts';
import type { ResolvedName } from '../resolve-repository.ts';

async function sendSession(call: ApiCall, name: string, upload: UploadStatus, status: number): Promise<void> {
  call.reply.code(status).headers({
    Location: call.url(`${name}/blobs/uploads/${encodeURIComponent(upload.id)}`),
    Range: formatUploadRange(upload.offset),
    [UPLOAD_UUID_HEADER]: upload.id,
  });
  await call.reply.send();
}

async function sendBlobCreated(call: ApiCall, name: string, info: BlobInfo): Promise<void> {
  call.reply.code(201).headers({
    Location: call.url(`${name}/blobs/${info.digest}`),
    [CONTENT_DIGEST_HEADER]: info.digest,
  });
  await call.reply.send();
}

/** True when the caller may pull `resolved`; a refusal is an answer here, not an error. */
async function mayPull(call: ApiCall, resolved: ResolvedName): Promise<boolean> {
  try {
    await call.authorize(resolved, ['pull']);
    return true;
  } catch (error) {
    if (isRegistryError(error) && (error.code === 'DENIED' || error.code === 'UNAUTHORIZED')) return false;
    throw error;
  }
}

/**
 * What to mount from, or undefined for no mount at all: `{ from }` when `from` routes to the
 * target's repository and may be pulled; `{}` (any image of the repository, spec 1.1) when no
 * `from` was given and the caller may pull the target itself, so a mount never reveals a blob the
 * caller could not read anyway.
 */
async function mountSource(
  call: ApiCall,
  target: WriteTarget,
  from: string | null,
): Promise<{ from?: string } | undefined> {
  if (from === null) return (await mayPull(call, target)) ? {} : undefined;
  if (!isValidName(from)) return undefined;
  const resolved = call.resolver.tryResolve(from, call.route);
  if (!resolved || resolved.repository !== target.repository) return undefined;
  return (await mayPull(call, resolved)) ? { from: resolved.image } : undefined;
}

/** Runs `work` counted in `regctl_uploads_in_progress` when the request carries a body. */
async function receiving<T>(call: ApiCall, target: WriteTarget, hasBody: boolean, work: () => Promise<T>): Promise<T> {
  const done = hasBody ? call.receiving(target) : undefined;
  try {
    return await work();
  } finally {
    done?.();
  }
}

/** The body bytes of a request without Content-Length (chunked), for `regctl_http_request_bytes_total`. */
function noteChunkedBytes(call: ApiCall, bytes: number): void {
  if (call.request.headers['content-length'] === undefined && call.request.regctl && bytes > 0) {
    call.request.regctl.bytesReceived = bytes;
  }
}

export async function startUpload(call: ApiCall, name: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'pushing a blob');
  const digest = call.query.get('digest');
  const mount = call.query.get('mount');

  if (mount !== null) {
    assertValidDigest(mount);
    const source = await mountSource(call, target, call.query.get('from'));
    const started = source
      ? await target.repo.startUpload(target.image, { mount: { digest: mount, ...source } })
      : await target.repo.startUpload(target.image);
    if ('mounted' in started) return sendBlobCreated(call, name, started.mounted);
    return sendSession(call, name, started.upload, 202);
  }

  if (digest !== null) {
    // Single-POST monolithic upload: the body is the whole blob.
    assertValidDigest(digest);
    const started = await target.repo.startUpload(target.image);
    if (!('upload' in started)) throw new RegistryError('UNKNOWN', { message: 'upload did not start' });
    const body = isEmptyBody(call.request) ? undefined : bodyStream(call.request);
    const info = await receiving(call, target, body !== undefined, () =>
      target.repo.completeUpload(target.image, started.upload.id, digest, body),
    );
    noteChunkedBytes(call, info.size);
    return sendBlobCreated(call, name, info);
  }

  const started = await target.repo.startUpload(target.image);
  if (!('upload' in started)) throw new RegistryError('UNKNOWN', { message: 'upload did not start' });
  return sendSession(call, name, started.upload, 202);
}

/** Adds the session's Location and Range to a 416, as the spec asks, when the session is known. */
async function withSessionHeaders(call: ApiCall, target: WriteTarget, name: string, id: string, error: unknown) {
  if (!isRegistryError(error) || error.code !== 'RANGE_INVALID') return error;
  const status = await target.repo.getUpload(target.image, id).catch(() => undefined);
  if (!status) return error;
  return new RegistryError('RANGE_INVALID', {
    message: error.message,
    detail: { offset: status.offset },
    headers: {
      ...error.headers,
      Location: call.url(`${name}/blobs/uploads/${encodeURIComponent(id)}`),
      Range: formatUploadRange(status.offset),
      [UPLOAD_UUID_HEADER]: id,
    },
  });
}

export async function patchUpload(call: ApiCall, name: string, id: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'an upload');
  const range = parseContentRange(call.request.headers['content-range'] as string | undefined);
  const length = call.request.headers['content-length'];
  if (range && length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryError('RANGE_INVALID', {
      message: 'Content-Range does not match Content-Length',
      detail: { contentRange: call.request.headers['content-range'], contentLength: Number(length) },
    });
  }
  try {
    const offset = range ? range.start : (await target.repo.getUpload(target.image, id)).offset;
    const body = bodyStream(call.request);
    const status = body
      ? await receiving(call, target, true, () => target.repo.appendUpload(target.image, id, offset, body))
      : await target.repo.getUpload(target.image, id);
    if (body) noteChunkedBytes(call, status.offset - offset);
    await sendSession(call, name, status, 202);
  } catch (error) {
    throw await withSessionHeaders(call, target, name, id, error);
  }
}

export async function putUpload(call: ApiCall, name: string, id: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'an upload');
  const digest = call.query.get('digest') ?? undefined;
  assertValidDigest(digest);
  // A last chunk may come with the PUT (`Content-Range` as on a PATCH): it must start where the
  // session ends, or the answer is 416 with the session's Location and Range — the conformance
  // runner (main) sends an out-of-order last chunk this way and expects 416, not a digest error.
  const range = parseContentRange(call.request.headers['content-range'] as string | undefined);
  if (range) {
    try {
      const length = call.request.headers['content-length'];
      if (length !== undefined && Number(length) !== range.end - range.start + 1) {
        throw new RegistryError('RANGE_INVALID', { message: 'Content-Range does not match Content-Length' });
      }
      const status = await target.repo.getUpload(target.image, id);
      if (range.start !== status.offset) {
        throw new RegistryError('RANGE_INVALID', {
          message: 'Content-Range does not start at the end of the upload',
          detail: { start: range.start, offset: status.offset },
        });
      }
    } catch (error) {
      throw await withSessionHeaders(call, target, name, id, error);
    }
  }
  const body = isEmptyBody(call.request) ? undefined : bodyStream(call.request);
  const info = await receiving(call, target, body !== undefined, () =>
    target.repo.completeUpload(target.image, id, digest, body),
  );
  await sendBlobCreated(call, name, info);
}

export async function getUploadStatus(call: ApiCall, name: string, id: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'an upload');
  const status = await target.repo.getUpload(target.image, id);
  call.reply.code(204).headers({
    Location: call.url(`${name}/blobs/uploads/${encodeURIComponent(status.id)}`),
    Range: formatUploadRange(status.offset),
    [UPLOAD_UUID_HEADER]: status.id,
  });
  await call.reply.send();
}

export async function cancelUpload(call: ApiCall, name: string, id: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'an upload');
  await target.repo.cancelUpload(target.image, id);
  call.reply.code(204);
  await call.reply.send();
}
