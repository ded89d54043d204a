// stdout: one line per alert, text or JSON. Writes go through the thread pool, so a stdout
// pipe nobody reads fills this output's queue (then drops, counted) instead of stalling the
// process the way a synchronous process.stdout write would.

import type { Alert } from "../engine/alert.js";
import { writeAll } from "./fd-writer.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { QueuedOutput, type QueuedOutputOptions } from "./output.js";

export interface StdoutOutputOptions extends QueuedOutputOptions {
  readonly format?: LineFormat;
  /** File descriptor to write to (default 1). */
  readonly fd?: number;
  readonly renderer?: AlertRenderer;
}

export class StdoutOutput extends QueuedOutput {
  readonly kind = "stdout";
  readonly #fd: number;
  readonly #format: LineFormat;
  readonly #renderer: AlertRenderer;

  constructor(opts: StdoutOutputOptions = {}, name = "stdout") {
    super(name, { batchMax: 1024, ...opts });
    this.#fd = opts.fd ?? 1;
    this.#format = opts.format ?? "text";
    this.#renderer = opts.renderer ?? new AlertRenderer();
  }

  protected async deliverBatch(alerts: Alert[]): Promise<void> {
    let s = "";
    for (const a of alerts) s += `${this.#renderer.line(a, this.#format)}\n`;
    await writeAll(this.#fd, Buffer.from(s));
  }

  protected async release(): Promise<void> {}
}
