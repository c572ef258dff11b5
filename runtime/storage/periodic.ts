/**
 * A store's housekeeping timer: runs `task` every `periodMs`, never two runs at once (the next
 * period starts when a run ends, so a slow sweep of a big bucket is not piled up), and `close()`
 * waits for a run in progress, so nothing of the store is used after it closed. The timer never
 * keeps the process alive.
 */
export class PeriodicTask {
  readonly #periodMs: number;
  readonly #task: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  /** Starts at once: the first run is `periodMs` from now. A failed run is reported and the next one goes on. */
  constructor(periodMs: number, task: () => Promise<void>, onError: (error: unknown) => void) {
    this.#periodMs = periodMs;
    this.#task = task;
    this.#onError = onError;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#task()
        .catch(this.#onError)
        .finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
    }, this.#periodMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a run in progress; idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
