/**
 * Stream-through caching of one blob: a single upstream body is hashed as it arrives and written
 * at once to the blob store (an upload that becomes visible only if the digest matches) and to the
 * client that asked for it. Neither side waits for the whole blob.
 *
 * Integrity towards the client: the last chunk is held back until the whole body has been hashed.
 * If the digest (or the announced size) does not match, the client's stream is destroyed instead
 * of completed, so the HTTP response is cut short (the client sees a truncated body, never a
 * complete wrong one) and the store discards the upload.
 *
 * Backpressure: the upstream is paused while either side is full, so memory stays bounded (about
 * 1 MiB towards the client plus {@link STORE_LAG} towards the store, per blob in flight). The store
 * may lag further behind than the client because a profile showed the cold pull waiting on it:
 * with a 1 MiB window on both sides, the upstream sat paused for 30–50 ms of a 60–90 ms 16 MiB
 * cold pull, every pause caused by the file store (the client never made it wait), so the client
 * ran at the store's pace. The client stays in lockstep with the upstream; the store catches up.
 * A client that goes away does not stop the fill: the cache still gets the blob, and the
 * coalesced waiters are served from it. Nor does a client that stays but stops reading (a frozen
 * process, a hostile slow reader): once the fill has waited {@link CLIENT_STALL_MS} in total for
 * the client, the client is *detached* — the fill goes on at the store's pace, and the client gets
 * the rest of the blob from the store, from the byte it had reached, after the digest is verified.
 * So no coalesced waiter ever waits for another client's reading speed.
 *
 * Resume: when the upstream connection drops mid-body and a `resume` is given (blob-path.ts
 * passes a `BlobResumer`), the body goes on from the byte reached with a new request; the one
 * hash runs across the pieces, the client and the store see one unbroken stream, and `done`
 * settles only when the whole blob is verified, so coalesced waiters never see the break either.
 * A piece that starts at 0 (an upstream without range support, or a changed ETag) is re-read up
 * to the byte reached and checked: its first bytes must hash as those already passed on (a copy
 * of the running hash), else the fetch fails (the upstream served two different bodies; nothing
 * is cached, the client is cut).
 *
 * Hashing: once per byte. The hash that decides the client's last chunk is handed to the store
 * through `putHashedBlob`, which then only counts and compares instead of hashing the same bytes
 * again (that second SHA-256 was about a fifth of the proxy's CPU per cold byte). Stores without
 * it (the S3 driver for now) get `putBlob` and verify by themselves, as before.
 */
import { createHash, type Hash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { BlobInfo, BlobStore, Digest } from '../../storage/blob-store.ts';
import { type BlobPiece, isDroppedConnection } from '../../upstream/blob-resume.ts';
import { UpstreamError } from '../../upstream/errors.ts';

const HIGH_WATER_MARK = 1024 * 1024;
/** How far the store may fall behind the upstream before the upstream is paused. */
const STORE_LAG = 8 * 1024 * 1024;
/**
 * How long, in total, the fill may wait for a slow client before the client is detached (served
 * the rest from the store once the blob is committed). A client keeping up with the upstream
 * causes next to no waiting (measured: the store, not the client, paused the upstream).
 */
export const CLIENT_STALL_MS = 1000;

/** The two outcomes of {@link streamThrough}. */
export interface StreamThrough {
  /** The bytes for the client; errors (and is cut short) when the body turns out wrong. */
  readonly client: Readable;
  /** Settles when the blob is committed in the store, or rejects (nothing visible then). */
  readonly done: Promise<BlobInfo>;
}

/**
 * Tees `source` (an upstream body of `digest`, `size` bytes when known) into `store` and a client
 * stream. See the module comment for the guarantees.
 */
export function streamThrough(options: {
  source: Readable;
  digest: Digest;
  size: number | undefined;
  store: BlobStore;
  /** false: fill the cache only (the returned `client` stream gets nothing). */
  client?: boolean;
  /** See {@link CLIENT_STALL_MS} (tests shorten it). */
  clientStallMs?: number;
  /** Called with the length of every chunk read from `source` (the upstream byte count). */
  onBytes?: (count: number) => void;
  /**
   * Continues the body after its connection dropped, from the byte reached (`BlobResumer`,
   * upstream/blob-resume.ts): a piece from there, or from 0, whose first bytes are then checked
   * against what was already received and skipped. Without it a drop fails the fetch.
   */
  resume?: (from: number) => Promise<BlobPiece>;
  /** Called for each resumed piece: the byte reached and where the piece starts (for the log). */
  onResume?: (from: number, start: number) => void;
}): StreamThrough {
  const { digest, size, store } = options;
  const stallMs = options.clientStallMs ?? CLIENT_STALL_MS;
  const [algorithm, expectedHex] = digest.split(':') as [string, string];
  const hash = createHash(algorithm);
  const toStore = new PassThrough({ highWaterMark: STORE_LAG });
  const client = new PassThrough({ highWaterMark: HIGH_WATER_MARK });
  // `done` rejects as soon as the body is known bad, without waiting for the store's cleanup, so
  // that coalesced waiters fail (and a retry can start) at once.
  let rejectEarly: (error: Error) => void = () => {};
  const early = new Promise<never>((_, reject) => {
    rejectEarly = reject;
  });
  early.catch(() => {});
  // The hash below decides what the client gets; a store that can take it (putHashedBlob) is not
  // made to hash the same bytes again. It is final before `toStore` ends (see 'end').
  let hashed: BlobInfo | undefined;
  const stored =
    store.putHashedBlob === undefined
      ? store.putBlob(digest, toStore, size)
      : store.putHashedBlob(digest, toStore, {
          expectedSize: size,
          hashed: () => {
            if (hashed === undefined) throw new Error(`blob ${digest}: the store asked for the hash too early`);
            return hashed;
          },
        });
  stored.catch(() => {});
  // A store that gave up (and stopped listening) must not turn the later destroy into a crash:
  // its failure is what `done` reports.
  toStore.on('error', () => {});
  const done = Promise.race([stored, early]);

  /** The upstream body being read now (a resume replaces it). */
  let source = options.source;
  let received = 0;
  let held: Buffer | undefined;
  let clientGone = options.client === false;
  let failed = false;
  let waiting = 0;
  /** Bytes handed to the client stream so far (where a detached client resumes from the store). */
  let sent = 0;
  /** Time the fill has spent waiting for the client, and since when it waits now. */
  let clientWaitMs = 0;
  let clientWaitSince: number | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let detached = false;

  const fail = (error: Error) => {
    if (failed) return;
    failed = true;
    clearTimeout(stallTimer);
    rejectEarly(error);
    source.destroy();
    toStore.destroy(error);
    if (!clientGone) client.destroy(error);
  };
  const onDrain = () => {
    waiting--;
    if (waiting === 0 && !failed) source.resume();
  };
  const onClientDrain = () => {
    if (clientWaitSince !== undefined) clientWaitMs += Date.now() - clientWaitSince;
    clientWaitSince = undefined;
    clearTimeout(stallTimer);
    onDrain();
  };
  /** Stops feeding the client; it gets the rest from the store once the blob is committed. */
  const detach = () => {
    if (detached || clientGone || failed) return;
    detached = true;
    clientGone = true; // the tee no longer writes to it or waits for it
    client.off('drain', onClientDrain);
    onClientDrain();
    const from = sent;
    void done
      .then(
        async (info) => {
          if (client.destroyed) return;
          if (from >= info.size) {
            client.end();
            return;
          }
          const rest = await store.read(digest, { start: from, end: info.size - 1 });
          rest.on('error', (error) => client.destroy(error));
          client.on('close', () => rest.destroy());
          rest.pipe(client);
        },
        (error: Error) => client.destroy(error),
      )
      .catch((error: Error) => client.destroy(error));
  };
  const waitForClient = () => {
    waiting++;
    clientWaitSince = Date.now();
    client.once('drain', onClientDrain);
    stallTimer = setTimeout(detach, Math.max(0, stallMs - clientWaitMs));
    stallTimer.unref();
  };
  // A store failure ends everything (and is what `done` reports to the caller).
  stored.catch((error: Error) => fail(error));
  client.on('close', () => {
    if (detached) return;
    if (!client.writableFinished) clientGone = true;
    // A client that left while we waited for it must not stall the fill.
    if (clientWaitSince !== undefined && clientGone) client.emit('drain');
  });

  /**
   * While a resumed piece that starts at 0 re-reads bytes already passed on: how many are left,
   * their hash so far, and what they must hash to (the main hash at the byte reached).
   */
  let skip: { left: number; hash: Hash; expected: string } | undefined;
  let resuming = false;

  const onData = (data: Buffer) => {
    if (failed) return;
    let chunk = data;
    options.onBytes?.(chunk.length);
    if (skip !== undefined) {
      const take = Math.min(skip.left, chunk.length);
      skip.hash.update(take === chunk.length ? chunk : chunk.subarray(0, take));
      skip.left -= take;
      if (skip.left > 0) return;
      if (skip.hash.digest('hex') !== skip.expected) {
        fail(
          new UpstreamError(
            'UPSTREAM_BAD_RESPONSE',
            `blob ${digest}: the restarted upstream body differs from the ${received} bytes already received`,
          ),
        );
        return;
      }
      skip = undefined;
      if (take === chunk.length) return;
      chunk = chunk.subarray(take);
    }
    received += chunk.length;
    hash.update(chunk);
    if (size !== undefined && received > size) {
      fail(new UpstreamError('UPSTREAM_BAD_RESPONSE', `blob ${digest}: upstream sent more than ${size} bytes`));
      return;
    }
    if (!toStore.write(chunk)) {
      waiting++;
      toStore.once('drain', onDrain);
    }
    const previous = held;
    held = chunk;
    if (previous !== undefined && !clientGone) {
      sent += previous.length;
      if (!client.write(previous)) waitForClient();
    }
    if (waiting > 0) source.pause();
  };
  const onEnd = () => {
    if (failed) return;
    if (skip !== undefined || (size !== undefined && received < size)) {
      resumeOr(
        new UpstreamError('UPSTREAM_BAD_RESPONSE', `blob ${digest}: upstream sent ${received} of ${size} bytes`),
      );
      return;
    }
    const actual = hash.digest('hex');
    if (actual !== expectedHex) {
      fail(
        new UpstreamError('UPSTREAM_BAD_RESPONSE', `blob ${digest}: upstream body hashes to ${algorithm}:${actual}`),
      );
      return;
    }
    hashed = { digest: `${algorithm}:${actual}`, size: received };
    toStore.end();
    clearTimeout(stallTimer);
    if (!clientGone) {
      if (held !== undefined) client.write(held);
      client.end();
    }
  };
  const onError = (error: Error) => {
    const failure = new UpstreamError(
      'UPSTREAM_UNREACHABLE',
      `blob ${digest}: upstream body failed: ${error.message}`,
      {
        cause: error,
      },
    );
    if (isDroppedConnection(error)) resumeOr(failure);
    else fail(failure);
  };
  const onAborted = () => {
    resumeOr(new UpstreamError('UPSTREAM_UNREACHABLE', `blob ${digest}: upstream connection aborted`));
  };
  const attach = (body: Readable) => {
    source = body;
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('aborted', onAborted);
    if (waiting > 0) body.pause();
  };
  /** Continues from the byte reached after a dropped body, or fails with `failure` when it cannot. */
  const resumeOr = (failure: UpstreamError) => {
    if (failed || resuming) return;
    if (options.resume === undefined) {
      fail(failure);
      return;
    }
    resuming = true;
    const dropped = source;
    dropped.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
    dropped.on('error', () => {});
    dropped.destroy();
    const from = received;
    options.resume(from).then(
      (piece) => {
        resuming = false;
        if (failed) {
          piece.body.on('error', () => {});
          piece.body.destroy();
          return;
        }
        if (piece.start !== from && piece.start !== 0) {
          piece.body.destroy();
          fail(
            new UpstreamError(
              'UPSTREAM_BAD_RESPONSE',
              `blob ${digest}: a resume from ${from} started at ${piece.start}`,
            ),
          );
          return;
        }
        // The main hash is at `from` (nothing was read meanwhile): a piece from 0 must match it.
        skip =
          piece.start === 0 && from > 0
            ? { left: from, hash: createHash(algorithm), expected: hash.copy().digest('hex') }
            : undefined;
        options.onResume?.(from, piece.start);
        attach(piece.body);
      },
      (error: unknown) => {
        resuming = false;
        fail(
          error instanceof UpstreamError
            ? error
            : new UpstreamError('UPSTREAM_UNREACHABLE', `blob ${digest}: resume failed`, { cause: error }),
        );
      },
    );
  };
  attach(source);
  return { client, done };
}
