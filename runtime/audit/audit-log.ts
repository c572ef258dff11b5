/**
 * The audit log: one JSON object per line, appended to the plan's `audit.file` (or written to
 * stdout). Lines are written in order through one append stream, never buffered past the stream's
 * own queue, and never hold a secret: the records are built from fields chosen here (user names,
 * addresses, repositories, tags, digests, error codes), never from headers or credentials.
 *
 * `reopen()` (SIGHUP) opens the same path again and then closes the old stream once its queued
 * lines are flushed, so `logrotate` can rename the file and signal: no line is lost or split
 * between the two files. A reload that changes the path opens the new file before the swap (a
 * path that cannot be opened fails the reload) and closes the old one after it.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { AUDIT_STDOUT, type AuditPlan } from '../../compiler/plan.ts';

/** What is audited. */
export type AuditAction = 'push' | 'delete' | 'tag.move' | 'login.failed' | 'access.denied' | 'reload';

/** One audit line (before `time`, which the log adds first). Optional fields are left out when unknown. */
export interface AuditRecord {
  readonly action: AuditAction;
  /** `ok`, `failed` (the operation was attempted and failed: `error` says why) or `refused` (auth). */
  readonly result: 'ok' | 'failed' | 'refused';
  /** The authenticated user, the user name a failed login sent, or null (anonymous). */
  readonly user?: string | null;
  readonly addr?: string;
  readonly repository?: string;
  /** The image name as the client wrote it. */
  readonly name?: string;
  readonly tag?: string;
  readonly digest?: string;
  readonly mediaType?: string;
  /** Tag moves: the digest the tag pointed to before. */
  readonly previousDigest?: string;
  /** A registry error code (`DENIED`, `MANIFEST_INVALID`, …) or a reason (`invalid_credentials`). */
  readonly error?: string;
  readonly requestId?: string;
  readonly [extra: string]: unknown;
}

type Sink = { write(line: string): boolean; end?(): void };

/** Opens `path` for appending; resolves once open, rejects when it cannot be opened. */
async function openAppend(path: string): Promise<WriteStream> {
  await mkdir(dirname(path), { recursive: true });
  const stream = createWriteStream(path, { flags: 'a', mode: 0o640 });
  await once(stream, 'open');
  return stream;
}

/** Ends `stream` after its queued writes (stdout is never ended). */
async function closeSink(sink: Sink | undefined): Promise<void> {
  if (sink === undefined || sink === process.stdout || sink.end === undefined) return;
  const stream = sink as WriteStream;
  if (stream.closed || stream.destroyed) return;
  await new Promise<void>((resolve) => stream.end(() => resolve()));
}

export class AuditLog {
  readonly #log: FastifyBaseLogger;
  readonly #onLine: (ok: boolean) => void;
  #file: string | undefined;
  #sink: Sink | undefined;

  constructor(options: { log: FastifyBaseLogger; onLine?: (ok: boolean) => void }) {
    this.#log = options.log;
    this.#onLine = options.onLine ?? (() => {});
  }

  /** Whether lines are written (the plan has `audit`). */
  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** Opens the file `next` names when it differs from the open one; `commit()` switches to it. */
  async prepare(next: AuditPlan | undefined): Promise<{ commit(): Promise<void>; abort(): Promise<void> }> {
    if (next?.file === this.#file) return { commit: async () => {}, abort: async () => {} };
    let opened: Sink | undefined;
    if (next !== undefined) {
      try {
        opened = next.file === AUDIT_STDOUT ? process.stdout : this.#watch(await openAppend(next.file));
      } catch (error) {
        throw new Error(`audit log ${next.file} cannot be opened: ${(error as Error).message}`, { cause: error });
      }
    }
    return {
      commit: async () => {
        const previous = this.#sink;
        this.#sink = opened;
        this.#file = next?.file;
        await closeSink(previous);
      },
      abort: () => closeSink(opened),
    };
  }

  /** Appends one line: `{"time": …, …record}`. Never throws; a failed write is logged and counted. */
  write(record: AuditRecord): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    const line = `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`;
    try {
      sink.write(line);
      this.#onLine(true);
    } catch (error) {
      this.#onLine(false);
      this.#log.error({ err: error, file: this.#file }, 'audit line could not be written');
    }
  }

  /** Reopens the file (after logrotate moved it); lines written meanwhile go to the old one until it is open. */
  async reopen(): Promise<void> {
    const file = this.#file;
    if (file === undefined || file === AUDIT_STDOUT) return;
    let opened: Sink;
    try {
      opened = this.#watch(await openAppend(file));
    } catch (error) {
      this.#log.error({ err: error, file }, 'audit log could not be reopened; still writing to the old file');
      return;
    }
    if (this.#file !== file) {
      await closeSink(opened);
      return;
    }
    const previous = this.#sink;
    this.#sink = opened;
    await closeSink(previous);
    this.#log.info({ file }, 'audit log reopened');
  }

  async close(): Promise<void> {
    const previous = this.#sink;
    this.#sink = undefined;
    this.#file = undefined;
    await closeSink(previous);
  }

  #watch(stream: WriteStream): WriteStream {
    stream.on('error', (error) => {
      this.#onLine(false);
      this.#log.error({ err: error, file: this.#file }, 'audit log write failed');
    });
    return stream;
  }
}
