/**
 * The circuit breaker of one upstream endpoint (a mirror or the remote URL of a proxy
 * repository), as {@link UpstreamEndpoints} uses it to skip an endpoint that is failing:
 *
 * - **closed**: requests go through.
 * - **open** after a failure (no connection, a timeout, a 5xx after the transport's retries):
 *   no request for a back-off period, 1 s after the first failure, doubled after each further
 *   consecutive failure, at most 60 s.
 * - **half-open** once the back-off has passed: one request (the trial) goes through; its success
 *   closes the breaker, its failure opens it again for the next, longer back-off. Other requests
 *   skip the endpoint while the trial is out.
 * - **rate-limited**: a 429 with `Retry-After` opens it until that time (not a failure: the back-off
 *   does not grow). Unlike an open breaker, this one is never overridden: no request reaches the
 *   endpoint before the time it gave.
 *
 * A breaker is plain state with an injectable clock; it sends nothing and has no timers.
 */

/** What `/-/status` calls the breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'rate-limited';

/** Options of {@link CircuitBreaker}; the defaults are the documented ones. */
export interface CircuitBreakerOptions {
  /** Back-off after the first failure (default 1 s). */
  readonly baseMs?: number;
  /** Longest back-off (default 60 s). */
  readonly capMs?: number;
  readonly now?: () => number;
}

/** Whether a request may go to the endpoint now, and if not why. */
export type Admission = 'yes' | 'open' | 'rate-limited';

export class CircuitBreaker {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #now: () => number;
  /** Consecutive failures; 0 while closed. */
  #failures = 0;
  /** Until when no request may go (ms since the epoch); 0 = not open. */
  #openUntil = 0;
  #rateLimited = false;
  /** A half-open trial is out. */
  #trial = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#baseMs = options.baseMs ?? 1000;
    this.#capMs = options.capMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The state as of now. */
  get state(): CircuitState {
    if (this.#openUntil === 0) return 'closed';
    if (this.#now() < this.#openUntil) return this.#rateLimited ? 'rate-limited' : 'open';
    return 'half-open';
  }

  /** When the endpoint is asked again (ms since the epoch), or null while closed. */
  get nextRetryAt(): number | null {
    return this.#openUntil === 0 ? null : this.#openUntil;
  }

  /** Consecutive failures so far (0 while closed). */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Asks to send one request. `yes` while closed; in half-open `yes` to the first caller only
   * (the trial: it must report {@link succeeded} or {@link failed}), `open` to the others.
   */
  admit(): Admission {
    const state = this.state;
    if (state === 'closed') return 'yes';
    if (state === 'rate-limited') return 'rate-limited';
    if (state === 'open' || this.#trial) return 'open';
    this.#trial = true;
    return 'yes';
  }

  /** The endpoint answered (any answer that is not a failure, a 404 included): closed. */
  succeeded(): void {
    this.#failures = 0;
    this.#openUntil = 0;
    this.#rateLimited = false;
    this.#trial = false;
  }

  /** The endpoint failed: open for the next back-off. */
  failed(): void {
    this.#failures++;
    const backoff = Math.min(this.#capMs, this.#baseMs * 2 ** Math.min(this.#failures - 1, 30));
    this.#openUntil = this.#now() + backoff;
    this.#rateLimited = false;
    this.#trial = false;
  }

  /** The endpoint answered 429 with Retry-After: closed to every request until `untilMs`. */
  rateLimitedUntil(untilMs: number): void {
    this.#openUntil = Math.max(untilMs, this.#rateLimited ? this.#openUntil : 0);
    this.#rateLimited = true;
    this.#trial = false;
  }
}
