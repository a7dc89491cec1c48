/**
 * One live status line at the bottom of a terminal: redrawn in place on a TTY, and printed as a plain line at most
 * every few seconds when the output is a file or a pipe (so logs stay readable). Other output goes above it.
 */
import type { Writable } from 'node:stream';

export class StatusLine {
  readonly #out: Writable & { isTTY?: boolean; columns?: number };
  readonly #plainEveryMs: number;
  #shown = '';
  #lastPlain = 0;

  constructor(out: Writable & { isTTY?: boolean; columns?: number }, plainEveryMs = 5000) {
    this.#out = out;
    this.#plainEveryMs = plainEveryMs;
  }

  /** Shows `text` as the status. */
  update(text: string): void {
    if (this.#out.isTTY) {
      const width = Math.max(20, (this.#out.columns ?? 100) - 1);
      this.#shown = text.slice(0, width);
      this.#out.write(`\r\x1b[2K${this.#shown}`);
    } else if (text !== this.#shown && Date.now() - this.#lastPlain >= this.#plainEveryMs) {
      this.#shown = text;
      this.#lastPlain = Date.now();
      this.#out.write(`${text}\n`);
    }
  }

  /** Prints `line` above the status line. */
  print(line: string): void {
    if (this.#out.isTTY) this.#out.write(`\r\x1b[2K${line}\n${this.#shown}`);
    else this.#out.write(`${line}\n`);
  }

  /** Leaves the status line as it is and moves to a new line. */
  end(): void {
    if (this.#out.isTTY && this.#shown !== '') this.#out.write('\n');
    this.#shown = '';
  }
}
