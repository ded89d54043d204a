// syslog: alerts to the local syslog socket (/dev/log) or any unix datagram socket, in RFC 5424
// (default) or RFC 3164 framing. Node has no unix datagram sockets, so the transport is one
// long-lived util-linux `logger` (Debian essential package bsdutils) reading
// `<PRI>message` lines on stdin (--prio-prefix); it is respawned with backoff if it dies
// (e.g. the socket is missing: it exits at start and is retried).
//
// Priority mapping: syslog severity = Falco priority number (Emergency 0 ... Debug 7);
// PRI = facility * 8 + severity.

import type { Alert } from "../engine/alert.js";
import { priorityLevel } from "../engine/alert.js";
import { ChildFeeder } from "./child-feeder.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { QueuedOutput, type QueuedOutputOptions } from "./output.js";

export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

export interface SyslogOutputOptions extends QueuedOutputOptions {
  /** Unix datagram socket path (default /dev/log). */
  readonly socket?: string;
  /** `rfc5424` (default) or `rfc3164`. */
  readonly protocol?: "rfc5424" | "rfc3164";
  /** Facility name from SYSLOG_FACILITIES (default `user`, like syslog(3)). */
  readonly facility?: string;
  /** APP-NAME / TAG (default `lanner`). */
  readonly tag?: string;
  /** Message body format (default text, as Falco's syslog output). */
  readonly format?: LineFormat;
  /** Largest message in bytes; longer ones are truncated by logger (default 8192). */
  readonly maxMessageBytes?: number;
  readonly renderer?: AlertRenderer;
  /** The logger binary (default `logger` on PATH). */
  readonly loggerPath?: string;
  readonly backoffMinMs?: number;
}

export function syslogPri(alert: Alert, facility: number): number {
  return facility * 8 + priorityLevel(alert.priority);
}

export class SyslogOutput extends QueuedOutput {
  readonly kind = "syslog";
  readonly #feeder: ChildFeeder;
  readonly #facility: number;
  readonly #format: LineFormat;
  readonly #renderer: AlertRenderer;

  constructor(opts: SyslogOutputOptions = {}, name = "syslog") {
    super(name, { batchMax: 1024, ...opts });
    const facility = SYSLOG_FACILITIES[opts.facility ?? "user"];
    if (facility === undefined)
      throw new Error(`syslog output: unknown facility ${JSON.stringify(opts.facility)}`);
    this.#facility = facility;
    this.#format = opts.format ?? "text";
    this.#renderer = opts.renderer ?? new AlertRenderer();
    const protocol = opts.protocol ?? "rfc5424";
    const args = [
      "--prio-prefix",
      "-u",
      opts.socket ?? "/dev/log",
      "--socket-errors=on",
      "-t",
      opts.tag ?? "lanner",
      "--size",
      String(opts.maxMessageBytes ?? 8192),
      protocol === "rfc5424" ? "--rfc5424=notq" : "--rfc3164",
      `--id=${process.pid}`,
    ];
    this.#feeder = new ChildFeeder({
      name: `output ${name}`,
      command: opts.loggerPath ?? "logger",
      args,
      logger: this.logger,
      stdio: ["ignore", "pipe"],
      ...(opts.backoffMinMs !== undefined ? { backoffMinMs: opts.backoffMinMs } : {}),
    });
  }

  protected async deliverBatch(alerts: Alert[]): Promise<void> {
    let s = "";
    for (const a of alerts) {
      // One datagram per line: newlines inside the message would split it.
      const body = this.#renderer.line(a, this.#format).replace(/[\r\n]+/g, " ");
      s += `<${syslogPri(a, this.#facility)}>${body}\n`;
    }
    await this.#feeder.write(Buffer.from(s));
  }

  reopen(): Promise<void> {
    return this.#feeder.restart();
  }

  protected release(): Promise<void> {
    return this.#feeder.close();
  }
}
