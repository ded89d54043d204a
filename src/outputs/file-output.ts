// file: alerts appended as JSON lines or text lines. The file stays open; reopen() (the agent
// calls it on SIGHUP/SIGUSR1) closes and reopens the path, which is how logrotate's
// rename-then-signal works: lines written before the reopen land in the renamed file, lines
// after it in the new one, none twice and none lost.

import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Alert } from "../engine/alert.js";
import { writeAll } from "./fd-writer.js";
import { mkdirp } from "./mkdirp.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { QueuedOutput, type QueuedOutputOptions } from "./output.js";

export interface FileOutputOptions extends QueuedOutputOptions {
  readonly path: string;
  readonly format?: LineFormat;
  /** Permission bits for a newly created file (default 0o640). */
  readonly mode?: number;
  readonly renderer?: AlertRenderer;
}

export class FileOutput extends QueuedOutput {
  readonly kind = "file";
  readonly path: string;
  readonly #format: LineFormat;
  readonly #mode: number;
  readonly #renderer: AlertRenderer;
  #handle: FileHandle | undefined;
  /** Serializes writes with reopen/close. */
  #lock: Promise<unknown> = Promise.resolve();
  reopens = 0;

  constructor(opts: FileOutputOptions, name = "file") {
    super(name, { batchMax: 1024, ...opts });
    this.path = opts.path;
    this.#format = opts.format ?? "json";
    this.#mode = opts.mode ?? 0o640;
    this.#renderer = opts.renderer ?? new AlertRenderer();
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(fn, fn);
    this.#lock = next.catch(() => {});
    return next;
  }

  async #ensureOpen(): Promise<FileHandle> {
    if (this.#handle === undefined) {
      await mkdirp(dirname(this.path));
      this.#handle = await open(this.path, "a", this.#mode);
    }
    return this.#handle;
  }

  /** Open the file now (so startup reports a bad path at once). */
  open(): Promise<void> {
    return this.#serialize(async () => {
      await this.#ensureOpen();
    });
  }

  protected deliverBatch(alerts: Alert[]): Promise<void> {
    let s = "";
    for (const a of alerts) s += `${this.#renderer.line(a, this.#format)}\n`;
    const buf = Buffer.from(s);
    return this.#serialize(async () => {
      const h = await this.#ensureOpen();
      try {
        await writeAll(h.fd, buf);
      } catch (err) {
        // Drop the handle so the next batch reopens (e.g. after the disk was remounted).
        this.#handle = undefined;
        await h.close().catch(() => {});
        throw err;
      }
    });
  }

  /** Close and reopen the path; ordered after writes already started. */
  reopen(): Promise<void> {
    return this.#serialize(async () => {
      const h = this.#handle;
      this.#handle = undefined;
      await h?.close();
      await this.#ensureOpen();
      this.reopens++;
    });
  }

  protected release(): Promise<void> {
    return this.#serialize(async () => {
      const h = this.#handle;
      this.#handle = undefined;
      await h?.close();
    });
  }
}
