/**
 * One webhook endpoint: a bounded in-memory queue and one delivery loop. `enqueue` is synchronous
 * and O(1), so a registry request never waits for a receiver; the loop POSTs up to
 * {@link MAX_BATCH} events per envelope, one request at a time, in order. A failed attempt (an
 * error, no answer within `timeoutMs`, or a status outside 2xx) is retried after a backoff (1 s,
 * doubling up to 60 s, with jitter) until `maxAttempts`; then the batch is dropped. A full queue
 * drops the new event. Every drop is counted (`regctl_notifications_dropped_total`) and logged
 * (at most once a minute per endpoint and reason, with the count since).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Agent } from 'undici';
import type { NotificationPlan } from '../../compiler/plan.ts';
import { ENVELOPE_MEDIA_TYPE, type EnvelopeEvent } from './envelope.ts';

/** Most events in one envelope. */
export const MAX_BATCH = 100;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
const DROP_LOG_INTERVAL_MS = 60_000;

/** What the endpoint reports (the metrics). */
export interface EndpointObserver {
  sent(count: number): void;
  failed(): void;
  dropped(reason: 'queue_full' | 'attempts_exhausted' | 'shutdown' | 'removed', count: number): void;
  queue(length: number): void;
}

export interface WebhookEndpointOptions {
  readonly plan: NotificationPlan;
  /** The headers with secrets resolved (never logged). */
  readonly headers: Readonly<Record<string, string>>;
  readonly log: FastifyBaseLogger;
  readonly observer: EndpointObserver;
  /** For tests: the first backoff (default 1 s). */
  readonly firstBackoffMs?: number;
}

export class WebhookEndpoint {
  readonly plan: NotificationPlan;
  readonly #headers: Record<string, string>;
  readonly #log: FastifyBaseLogger;
  readonly #observer: EndpointObserver;
  readonly #firstBackoffMs: number;
  /** Made by the first POST: undici is imported then, not by every `serve` (most plans have no webhook). */
  #agent: Agent | undefined;
  readonly #queue: EnvelopeEvent[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  /** Wakes the loop early out of a backoff (close). */
  #wake: (() => void) | undefined;
  /** Aborted when the close grace ends: a POST still out is not waited for. */
  readonly #stop = new AbortController();
  readonly #drops = new Map<string, { count: number; loggedAt: number }>();

  constructor(options: WebhookEndpointOptions) {
    this.plan = options.plan;
    this.#headers = {
      'content-type': ENVELOPE_MEDIA_TYPE,
      'user-agent': 'regctl-notifications',
      ...options.headers,
    };
    this.#log = options.log.child({ notification: options.plan.name });
    this.#observer = options.observer;
    this.#firstBackoffMs = options.firstBackoffMs ?? FIRST_BACKOFF_MS;
  }

  /** Events waiting (not yet delivered). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues `event` for delivery, or drops it when the queue is full. Never blocks or throws. */
  enqueue(event: EnvelopeEvent): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.plan.queueSize) {
      this.#drop('queue_full', 1);
      return;
    }
    this.#queue.push(event);
    this.#observer.queue(this.#queue.length);
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0 && !this.#closed) this.#running = this.#loop();
    });
  }

  /**
   * Stops: what is queued gets one more chance until `graceMs` has passed, then is dropped with
   * `reason`. Resolves when the loop has stopped.
   */
  async close(reason: 'shutdown' | 'removed', graceMs = 2000): Promise<void> {
    const deadline = setTimeout(() => {
      this.#closed = true;
      this.#stop.abort();
      this.#wake?.();
    }, graceMs);
    deadline.unref();
    await this.#running;
    clearTimeout(deadline);
    this.#closed = true;
    if (this.#queue.length > 0) this.#drop(reason, this.#queue.splice(0).length);
    this.#observer.queue(0);
    await this.#agent?.close().catch(() => undefined);
  }

  async #loop(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue.slice(0, MAX_BATCH);
      let delivered = false;
      for (let attempt = 1; attempt <= this.plan.maxAttempts && !this.#closed; attempt++) {
        if (await this.#send(batch)) {
          delivered = true;
          break;
        }
        if (this.#closed) break;
        this.#observer.failed();
        if (attempt < this.plan.maxAttempts) await this.#sleep(this.#backoff(attempt));
      }
      if (this.#closed && !delivered) return;
      this.#queue.splice(0, batch.length);
      this.#observer.queue(this.#queue.length);
      if (delivered) this.#observer.sent(batch.length);
      else this.#drop('attempts_exhausted', batch.length);
    }
  }

  /** One POST of `batch`; true on a 2xx. */
  async #send(batch: readonly EnvelopeEvent[]): Promise<boolean> {
    const { timeoutMs, url } = this.plan;
    try {
      const undici = await import('undici');
      this.#agent ??= new undici.Agent({ keepAliveTimeout: 10_000, connections: 2 });
      const response = await undici.request(url, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify({ events: batch }),
        dispatcher: this.#agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop.signal]),
      });
      await response.body.dump().catch(() => undefined);
      if (response.statusCode >= 200 && response.statusCode < 300) return true;
      this.#log.warn({ status: response.statusCode, events: batch.length }, 'webhook refused the events; will retry');
      return false;
    } catch (error) {
      if (this.#closed) return false;
      this.#log.warn(
        { err: { message: (error as Error).message, code: (error as { code?: string }).code }, events: batch.length },
        'webhook delivery failed; will retry',
      );
      return false;
    }
  }

  #backoff(attempt: number): number {
    const base = Math.min(MAX_BACKOFF_MS, this.#firstBackoffMs * 2 ** (attempt - 1));
    return base * (0.75 + Math.random() * 0.5);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #drop(reason: 'queue_full' | 'attempts_exhausted' | 'shutdown' | 'removed', count: number): void {
    this.#observer.dropped(reason, count);
    const now = Date.now();
    const record = this.#drops.get(reason) ?? { count: 0, loggedAt: 0 };
    record.count += count;
    if (now - record.loggedAt >= DROP_LOG_INTERVAL_MS) {
      this.#log.warn({ reason, dropped: record.count }, 'webhook events dropped');
      record.count = 0;
      record.loggedAt = now;
    }
    this.#drops.set(reason, record);
  }
}
