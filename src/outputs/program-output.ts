// program: one long-lived `sh -c CMD` fed one alert per line on stdin (JSON or text), like
// Falco's program_output with keep_alive. A child that dies is respawned with exponential
// backoff (100 ms doubling to 30 s; reset once a child lived 10 s); reopen() restarts it.

import type { Alert } from "../engine/alert.js";
import { ChildFeeder } from "./child-feeder.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { QueuedOutput, type QueuedOutputOptions } from "./output.js";

export interface ProgramOutputOptions extends QueuedOutputOptions {
  /** Shell command, run as `sh -c CMD`. */
  readonly command: string;
  readonly format?: LineFormat;
  readonly renderer?: AlertRenderer;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
}

export class ProgramOutput extends QueuedOutput {
  readonly kind = "program";
  readonly #feeder: ChildFeeder;
  readonly #format: LineFormat;
  readonly #renderer: AlertRenderer;

  constructor(opts: ProgramOutputOptions, name = "program") {
    super(name, { batchMax: 1024, ...opts });
    this.#format = opts.format ?? "json";
    this.#renderer = opts.renderer ?? new AlertRenderer();
    this.#feeder = new ChildFeeder({
      name: `output ${name}`,
      command: "sh",
      args: ["-c", opts.command],
      logger: this.logger,
      ...(opts.backoffMinMs !== undefined ? { backoffMinMs: opts.backoffMinMs } : {}),
      ...(opts.backoffMaxMs !== undefined ? { backoffMaxMs: opts.backoffMaxMs } : {}),
    });
  }

  /** Children started so far, and children that died unasked. */
  get children(): { spawns: number; deaths: number; pid: number | undefined } {
    return { spawns: this.#feeder.spawns, deaths: this.#feeder.deaths, pid: this.#feeder.pid };
  }

  protected async deliverBatch(alerts: Alert[]): Promise<void> {
    let s = "";
    for (const a of alerts) s += `${this.#renderer.line(a, this.#format)}\n`;
    await this.#feeder.write(Buffer.from(s));
  }

  reopen(): Promise<void> {
    return this.#feeder.restart();
  }

  protected release(): Promise<void> {
    return this.#feeder.close();
  }
}
