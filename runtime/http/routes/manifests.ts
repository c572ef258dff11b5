/**
 * `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>`.
 *
 * Accept negotiation: the Accept list is handed to the repository (a proxy forwards it upstream);
 * when the stored media type is not in it, the manifest is served anyway with its real
 * Content-Type, as the distribution registry does, and the client decides (every current client
 * accepts or converts; refusing with 404 would hide an existing image).
 */

import { RegistryError } from '../../oci/errors.ts';
import { parseReference, type Reference } from '../../oci/names.ts';
import { readManifestBody } from '../body.ts';
import type { ApiCall } from '../context.ts';
import { CONTENT_DIGEST_HEADER, OCI_SUBJECT_HEADER, parseAccept } from '../headers.ts';

/**
 * A reference to look up (GET, HEAD, DELETE): a malformed tag names no manifest, so it answers
 * 404 `MANIFEST_UNKNOWN` rather than 400. The OCI conformance suite (v1.1.1 pull workflow) asks
 * for 404 on `GET|HEAD /v2/<name>/manifests/.INVALID_MANIFEST_NAME`; only PUT (which would create
 * the tag) refuses a malformed tag with 400. A malformed digest stays 400 `DIGEST_INVALID`.
 */
function lookupReference(reference: string): Reference {
  if (reference.includes(':')) return parseReference(reference);
  try {
    return parseReference(reference);
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'MANIFEST_INVALID') {
      throw new RegistryError('MANIFEST_UNKNOWN', { detail: { tag: reference.slice(0, 200) } });
    }
    throw error;
  }
}

export async function getManifest(call: ApiCall, name: string, reference: string): Promise<void> {
  const target = await call.target(name, ['pull']);
  const parsed = lookupReference(reference);
  const accept = parseAccept(call.request.headers.accept);
  const manifest = await target.repo.getManifest(target.image, parsed.value, accept.length > 0 ? { accept } : {});
  const etag = `"${manifest.digest}"`;
  call.reply.headers({
    'Content-Type': manifest.mediaType,
    [CONTENT_DIGEST_HEADER]: manifest.digest,
    'Content-Length': String(manifest.body.length),
    ETag: etag,
  });
  if (call.request.headers['if-none-match'] === etag) {
    call.reply.code(304).removeHeader('Content-Length');
    await call.reply.send();
    return;
  }
  call.reply.code(200);
  if (call.request.method === 'GET') {
    call.reportPull(target, {
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      size: manifest.body.length,
      ...(parsed.kind === 'tag' ? { tag: parsed.value } : {}),
    });
  }
  await call.reply.send(call.request.method === 'HEAD' ? undefined : manifest.body);
}

export async function putManifest(call: ApiCall, name: string, reference: string): Promise<void> {
  const target = await call.writeTarget(name, ['push'], 'pushing a manifest');
  const parsed = parseReference(reference);
  const body = await readManifestBody(call.request);
  const contentType = call.request.headers['content-type'] ?? '';
  const tag = parsed.kind === 'tag' ? { tag: parsed.value } : {};
  const result = await call.report(
    target,
    'push',
    () => target.repo.putManifest(target.image, parsed.value, body, contentType),
    (stored) => ({
      ...tag,
      mediaType: contentType.split(';')[0]?.trim() || undefined,
      size: body.length,
      ...(stored === undefined
        ? parsed.kind === 'digest'
          ? { digest: parsed.value }
          : {}
        : { digest: stored.digest }),
      ...(stored?.previous === undefined ? {} : { previousDigest: stored.previous }),
    }),
  );
  call.reply.code(201).headers({
    Location: call.url(`${name}/manifests/${result.digest}`),
    [CONTENT_DIGEST_HEADER]: result.digest,
    ...(result.subject ? { [OCI_SUBJECT_HEADER]: result.subject } : {}),
  });
  await call.reply.send();
}

export async function deleteManifest(call: ApiCall, name: string, reference: string): Promise<void> {
  const target = await call.writeTarget(name, ['delete'], 'deleting a manifest');
  const parsed = lookupReference(reference);
  await call.report(
    target,
    'delete',
    () => target.repo.deleteManifest(target.image, parsed.value),
    () => (parsed.kind === 'tag' ? { tag: parsed.value } : { digest: parsed.value }),
  );
  call.reply.code(202);
  await call.reply.send();
}
