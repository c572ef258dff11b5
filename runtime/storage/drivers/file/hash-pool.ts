/**
 * A worker thread that hashes files being written by the file driver, reading back what was just
 * written (from the page cache) instead of hashing the socket's chunks on the event loop.
 *
 * Why: on a push the event loop reads the socket, drives the file writes and, before this, hashed
 * every byte; SHA-256 (about 0.5 s per GiB even with the CPU's SHA extensions) was the largest
 * share of it, and a push is bound by that one thread. Hashing what the file holds moves the work
 * to another core without copying a byte on the event loop (the worker's read is its own copy),
 * and it checks what will be published, the file, rather than what was meant to be written.
 *
 * Protocol: jobs are numbered by the caller; every message names the file, the algorithm and the
 * byte range `[from, to)` the caller knows to be written. The worker keeps one running hash per
 * job and makes it cover exactly `[0, to)`: when its state is ahead of `from` (bytes were
 * rewritten after a failed append), of another algorithm, or broken by a failed read, it starts
 * over from byte 0. Messages of one job are handled in order, so a `digest` request sees every
 * earlier `feed`. Only `digest` is answered.
 *
 * The worker is started on first use, holds the process open only while a digest is awaited,
 * and keeps at most {@link MAX_JOBS} hash states (a job evicted is simply rehashed from disk). A
 * worker that dies (it should not: it allocates almost nothing) fails the digests it owed; each is
 * asked once more of a new worker, which hashes the file from byte 0.
 */
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from '../../../oci/digest.ts';
import type { Digest } from '../../blob-store.ts';

/** Running hash states the worker keeps; the least recently used is dropped beyond this. */
const MAX_JOBS = 4096;

/**
 * The worker's code, plain CommonJS evaluated by `new Worker(code, { eval: true })`: no file to
 * locate, whether regctl runs from source, from the bundled CLI or inside the test runner.
 */
export const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const jobs = new Map();
const buffer = Buffer.allocUnsafe(1024 * 1024);
function advance(m) {
  let job = jobs.get(m.job);
  if (job !== undefined) jobs.delete(m.job);
  if (job === undefined || job.broken || job.file !== m.file || job.algorithm !== m.algorithm || job.offset > m.from) {
    job = { file: m.file, algorithm: m.algorithm, hash: createHash(m.algorithm), offset: 0, broken: false };
  }
  jobs.set(m.job, job);
  if (jobs.size > ${MAX_JOBS}) jobs.delete(jobs.keys().next().value);
  if (job.offset >= m.to) return job;
  let fd;
  try {
    fd = openSync(m.file, 'r');
    while (job.offset < m.to) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, m.to - job.offset), job.offset);
      if (n === 0) throw new Error('the file ends at byte ' + job.offset + ', before ' + m.to);
      job.hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
      job.offset += n;
    }
  } catch (error) {
    job.broken = true;
    throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return job;
}
parentPort.on('message', (m) => {
  if (m.type === 'drop') {
    jobs.delete(m.job);
    return;
  }
  let job;
  try {
    job = advance(m);
  } catch (error) {
    if (m.type === 'digest') parentPort.postMessage({ id: m.id, error: String(error && error.message || error) });
    return;
  }
  if (m.type === 'digest') {
    const hex = job.hash.copy().digest('hex');
    parentPort.postMessage({ id: m.id, digest: job.algorithm + ':' + hex, size: job.offset });
  }
});
`;

type Message =
  | { type: 'feed'; job: number; file: string; algorithm: DigestAlgorithm; from: number; to: number }
  | { type: 'digest'; id: number; job: number; file: string; algorithm: DigestAlgorithm; from: number; to: number }
  | { type: 'drop'; job: number };

type Reply = { id: number; digest: Digest; size: number } | { id: number; error: string };

/** The worker went away with requests unanswered (not a read error of the file). */
class WorkerLost extends Error {}

interface Pending {
  resolve(value: { digest: Digest; size: number }): void;
  reject(error: Error): void;
}

/** The worker of one file store (see the module comment). */
export class FileHashPool {
  readonly #source: string;
  #worker: Worker | undefined;
  #nextJob = 1;
  #nextRequest = 1;
  readonly #pending = new Map<number, Pending>();

  /** `source`: the worker's code (tests wrap {@link WORKER_SOURCE} to make it fail). */
  constructor(source: string = WORKER_SOURCE) {
    this.#source = source;
  }

  /** A fresh job number for one file's running hash. */
  newJob(): number {
    return this.#nextJob++;
  }

  /** Bytes `[from, to)` of `file` are written: the job's hash may cover them. */
  feed(job: number, file: string, algorithm: DigestAlgorithm, from: number, to: number): void {
    this.#post({ type: 'feed', job, file, algorithm, from, to });
  }

  /**
   * The digest of bytes `[0, to)` of `file` (with `from` as in {@link feed}: bytes before it were
   * fed before and are unchanged). Rejects when the file cannot be read that far.
   */
  async digest(job: number, file: string, algorithm: DigestAlgorithm, from: number, to: number): Promise<Digest> {
    const message = { type: 'digest', job, file, algorithm, from, to } as const;
    const { digest, size } = await this.#request(message).catch((error: unknown) => {
      if (!(error instanceof WorkerLost)) throw error;
      return this.#request(message); // a new worker, without the lost state: it starts from byte 0
    });
    if (size !== to) throw new Error(`hashed ${size} bytes of ${file}, not ${to}`);
    return digest;
  }

  #request(message: Omit<Extract<Message, { type: 'digest' }>, 'id'>): Promise<{ digest: Digest; size: number }> {
    const id = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#post({ ...message, id });
        this.#worker?.ref(); // released when the last awaited digest settles
      } catch (error) {
        this.#settle(id);
        reject(error as Error);
      }
    });
  }

  /** Forgets the job's hash state. */
  drop(job: number): void {
    if (this.#worker !== undefined) this.#worker.postMessage({ type: 'drop', job } satisfies Message);
  }

  /**
   * Stops the worker; digests still awaited reject. A later use starts a new one (a request that
   * outlives its store's state still completes).
   */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error('the file hash worker was closed'));
    if (worker !== undefined) await worker.terminate();
  }

  #post(message: Message): void {
    this.#start().postMessage(message);
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    // A small young generation: the worker allocates almost nothing (one reused 1 MiB buffer).
    const worker = new Worker(this.#source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const pending = this.#settle(reply.id);
      if (pending === undefined) return;
      if ('error' in reply) pending.reject(new Error(reply.error));
      else pending.resolve(reply);
    });
    // Only the current worker's loss fails what is awaited (a closed one's exit comes later).
    const lost = (error: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(error);
    };
    worker.on('error', (error) => lost(new WorkerLost(`the file hash worker failed: ${error.message}`)));
    worker.on('exit', (code) => lost(new WorkerLost(`the file hash worker exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker?.unref();
    return pending;
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
}
