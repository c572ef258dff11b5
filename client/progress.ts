/**
 * A byte progress bar for the client commands that move whole bundles (`export`, `import`):
 * redrawn in place on stderr when it is a terminal (at most every 100 ms), silent otherwise, so
 * a log or a pipe gets only the commands' own lines.
 */
import { formatBytes } from './target.ts';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean };

export class ProgressBar {
  readonly #out: ProgressStream;
  readonly #total: number;
  readonly #label: string;
  readonly #tty: boolean;
  #done = 0;
  #drawnAt = 0;
  #shown = false;

  /** `total` bytes to go; `label` says what moves (`exporting 3 images`). */
  constructor(out: ProgressStream, total: number, label: string) {
    this.#out = out;
    this.#total = total;
    this.#label = label;
    this.#tty = out.isTTY === true;
  }

  /** `bytes` more are done. */
  advance(bytes: number): void {
    this.#done += bytes;
    if (!this.#tty) return;
    const now = Date.now();
    if (now - this.#drawnAt < 100 && this.#done < this.#total) return;
    this.#drawnAt = now;
    this.#draw();
  }

  /** Prints `line` (above the bar on a terminal). */
  note(line: string): void {
    this.#out.write(`${this.#shown ? '\r\x1b[K' : ''}${line}\n`);
    if (this.#shown) this.#draw();
  }

  /** Ends the bar's line (on a terminal). */
  finish(): void {
    if (!this.#shown) return;
    this.#draw();
    this.#out.write('\n');
    this.#shown = false;
  }

  #draw(): void {
    const width = 30;
    const ratio = this.#total === 0 ? 1 : Math.min(1, this.#done / this.#total);
    const filled = Math.round(ratio * width);
    this.#out.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.#label}: ` +
        `${formatBytes(this.#done)} of ${formatBytes(this.#total)}   `,
    );
    this.#shown = true;
  }
}
