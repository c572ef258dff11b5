/**
 * `GET|HEAD|DELETE /v2/<name>/blobs/<digest>`. Bytes stream from the repository to the socket
 * (a file store's reader writes itself, see send-direct.ts);
 * a single `Range` is honoured (206), an unsatisfiable one is 416, and a store that offers a
 * presigned URL gets a 307 to it.
 */

import { assertValidDigest } from '../../oci/names.ts';
import { canSendDirect } from '../../storage/blob-store.ts';
import type { ApiCall } from '../context.ts';
import { CONTENT_DIGEST_HEADER, parseByteRange } from '../headers.ts';
import { sendDirect } from '../send-direct.ts';

export async function getBlob(call: ApiCall, name: string, digest: string): Promise<void> {
  const target = await call.target(name, ['pull']);
  assertValidDigest(digest);
  const { reply } = call;
  reply.header(CONTENT_DIGEST_HEADER, digest).header('Accept-Ranges', 'bytes');

  if (call.request.method === 'HEAD') {
    const info = await target.repo.statBlob(target.image, digest);
    reply.code(200).headers({ 'Content-Length': String(info.size), 'Content-Type': 'application/octet-stream' });
    await reply.send();
    return;
  }

  const rangeHeader = call.request.headers.range;
  // Without a Range one call does it (a proxy then fetches once); with one, the size comes first.
  const range = rangeHeader
    ? parseByteRange(rangeHeader, (await target.repo.statBlob(target.image, digest)).size)
    : undefined;
  const blob = await target.repo.getBlob(target.image, digest, range);
  if ('redirect' in blob.body) {
    reply.code(307).header('Location', blob.body.redirect);
    await reply.send();
    return;
  }
  const { stream } = blob.body;
  reply.header('Content-Type', 'application/octet-stream');
  if (range) {
    reply
      .code(206)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${blob.info.size}`)
      .header('Content-Length', String(range.end - range.start + 1));
  } else {
    reply.code(200).header('Content-Length', String(blob.info.size));
  }
  if (canSendDirect(stream)) await sendDirect(reply, stream);
  else await reply.send(stream);
}

export async function deleteBlob(call: ApiCall, name: string, digest: string): Promise<void> {
  const target = await call.writeTarget(name, ['delete'], 'deleting a blob');
  assertValidDigest(digest);
  await call.report(
    target,
    'delete',
    () => target.repo.deleteBlob(target.image, digest),
    () => ({ digest, mediaType: 'application/octet-stream' }),
  );
  call.reply.code(202);
  await call.reply.send();
}
