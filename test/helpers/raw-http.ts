/**
 * HTTP/1.1 over a bare TCP socket, for what no HTTP client will send: malformed requests written
 * byte for byte, and slowloris connections that trickle a request head one byte at a time. Every
 * wait is bounded; only 127.0.0.1 is dialled.
 */
import { connect, type Socket } from 'node:net';

/** The first final response read back (interim `100 Continue` answers skipped). */
export interface RawAnswer {
  /** Undefined when no status line came back (the server closed, or the bound passed). */
  readonly status: number | undefined;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Milliseconds from connecting until the server closed, the answer was complete, or the bound passed. */
  readonly ms: number;
  /** The server closed the connection (false: the answer was complete first, or the bound passed). */
  readonly closed: boolean;
  /** What came back, as latin1 text (for the rare check that needs more than the first answer). */
  readonly raw: string;
  /** The socket's error code, when it failed (a reset after the answer still counts as closed). */
  readonly error?: string;
}

/** Parses the first final response of `raw` (the whole text read from the socket). */
export function parseRawAnswer(raw: string, ms: number, closed: boolean, error?: string): RawAnswer {
  let rest = raw;
  while (/^HTTP\/1\.[01] 1\d\d /.test(rest) && rest.includes('\r\n\r\n')) {
    rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
  }
  const end = rest.indexOf('\r\n\r\n');
  const failure = error === undefined ? {} : { error };
  if (!/^HTTP\/1\.[01] \d{3}/.test(rest) || end === -1) {
    return { status: undefined, headers: {}, body: '', ms, closed, raw, ...failure };
  }
  const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = rest.slice(end + 4);
  const length = headers['content-length'];
  if (length !== undefined && /^\d+$/.test(length))
    body = Buffer.from(body, 'latin1').subarray(0, Number(length)).toString('utf8');
  return { status: Number(statusLine.split(' ')[1]), headers, body, ms, closed, raw, ...failure };
}

export interface RawExchangeOptions {
  /** Give up after this long (default 5 s): the answer then has `closed: false` and may be partial. */
  readonly boundMs?: number;
  /**
   * Half-close after the last write (default false). Node takes a client's half-close for a
   * client gone and closes without answering a request still being handled, so this is only for
   * a request that ends short of what it announced: the server then answers that it is short.
   */
  readonly halfClose?: boolean;
  /**
   * Stop as soon as the first final answer is complete (by its `Content-Length`, chunked end, or
   * for a HEAD request its head) instead of waiting for the server to close (default false).
   */
  readonly untilAnswer?: boolean;
  /** The request is a HEAD: its answer has no body (for `untilAnswer`). */
  readonly head?: boolean;
}

/** True when `raw` holds a whole final answer (interim 1xx skipped); false when its end is the close. */
function isAnswerComplete(raw: string, head: boolean): boolean {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return false;
    const headText = rest.slice(0, end);
    const body = rest.slice(end + 4);
    const status = Number(headText.split(' ')[1]);
    if (status >= 100 && status < 200) {
      rest = body;
      continue;
    }
    if (head || status === 204 || status === 304) return true;
    const length = /\r\ncontent-length: *(\d+)/i.exec(headText);
    if (length) return Buffer.byteLength(body, 'latin1') >= Number(length[1]);
    if (/\r\ntransfer-encoding: *chunked/i.test(headText)) return body.endsWith('0\r\n\r\n');
    return false;
  }
}

/**
 * Connects to `port`, writes `parts` (byte strings or buffers; a number is a pause in ms) and reads
 * until the server closes the connection or the bound passes.
 */
export function rawExchange(
  port: number,
  parts: readonly (string | Buffer | number)[],
  options: RawExchangeOptions = {},
): Promise<RawAnswer> {
  const boundMs = options.boundMs ?? 5000;
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const socket: Socket = connect(port, '127.0.0.1');
    let settled = false;
    const settle = (closed: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      socket.destroy();
      resolve(parseRawAnswer(Buffer.concat(chunks).toString('latin1'), performance.now() - started, closed, error));
    };
    const bound = setTimeout(() => settle(false), boundMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.untilAnswer && isAnswerComplete(Buffer.concat(chunks).toString('latin1'), options.head === true)) {
        settle(false);
      }
    });
    // A reset after the answer (the server dropping what was still being sent) is still an answer.
    socket.on('error', (error: NodeJS.ErrnoException) => settle(true, error.code ?? error.message));
    socket.on('close', () => settle(true));
    socket.once('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed || settled) return;
        if (typeof part === 'number') await new Promise((wait) => setTimeout(wait, part));
        else socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
      }
      if (options.halfClose === true && !socket.destroyed) socket.end();
    });
  });
}

/** Slow connections started by {@link startSlowloris}. */
export interface Slowloris {
  /** Per connection: ms from its connect until the server closed it, or undefined while open. */
  readonly closedAfterMs: readonly (number | undefined)[];
  /** Per connection: the status the server answered before closing, if any. */
  readonly statuses: readonly (number | undefined)[];
  /** How many are still open. */
  open(): number;
  /** Resolves when all are closed, or after `boundMs` (then some are still open). */
  allClosed(boundMs: number): Promise<void>;
  /** Closes every connection still open. */
  stop(): void;
}

/**
 * Opens `connections` connections to `port` that each send a request line and then one byte of an
 * endless header every `intervalMs`, never finishing the head (at most `maxBytes` such bytes, so
 * the loop is bounded even against a server that never closes them).
 */
export async function startSlowloris(
  port: number,
  options: { connections: number; intervalMs: number; maxBytes: number },
): Promise<Slowloris> {
  const sockets: Socket[] = [];
  const openedAt: number[] = [];
  const closedAfterMs: (number | undefined)[] = [];
  const statuses: (number | undefined)[] = [];
  await Promise.all(
    Array.from(
      { length: options.connections },
      (_, index) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1');
          sockets[index] = socket;
          closedAfterMs[index] = undefined;
          let received = '';
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString('latin1');
            statuses[index] ??= parseRawAnswer(received, 0, false).status;
          });
          socket.on('error', () => undefined);
          socket.once('close', () => {
            closedAfterMs[index] = performance.now() - openedAt[index]!;
          });
          socket.once('connect', () => {
            openedAt[index] = performance.now();
            socket.write(`GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
            resolve();
          });
          socket.once('error', reject);
        }),
    ),
  );
  let sent = 0;
  const drip = setInterval(() => {
    if (++sent > options.maxBytes) {
      clearInterval(drip);
      return;
    }
    for (const socket of sockets) if (!socket.destroyed && socket.writable) socket.write('a');
  }, options.intervalMs);
  const open = () => closedAfterMs.filter((ms) => ms === undefined).length;
  return {
    closedAfterMs,
    statuses,
    open,
    async allClosed(boundMs) {
      const deadline = performance.now() + boundMs;
      while (open() > 0 && performance.now() < deadline) await new Promise((wait) => setTimeout(wait, 50));
    },
    stop() {
      clearInterval(drip);
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** The `q`-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
