// The Output contract and the queued base class every channel builds on: a bounded queue in
// front of one asynchronous worker, so a slow or broken channel never delays the caller
// (the event path) or any other output.

import type { Alert } from "../engine/alert.js";
import { BoundedQueue, type DropPolicy } from "./bounded-queue.js";
import { stderrLogger, type Logger } from "./logger.js";

export interface OutputStats {
  readonly name: string;
  readonly kind: string;
  /** Alerts handed to the channel successfully. */
  readonly delivered: number;
  /** Alerts the channel gave up on (after its retries). */
  readonly failed: number;
  /** Alerts lost because the queue was full. */
  readonly dropped: number;
  readonly queueDepth: number;
  readonly queueCapacity: number;
}

export interface Output {
  readonly name: string;
  readonly kind: string;
  /** Hand over an alert. Never blocks, never throws; overflow is dropped and counted. */
  enqueue(alert: Alert): void;
  stats(): OutputStats;
  /** Resolve true once everything enqueued so far is delivered or failed, false at the deadline. */
  flush(deadlineMs: number): Promise<boolean>;
  /** Flush (bounded by deadlineMs) and release resources. Later enqueues are dropped. */
  close(deadlineMs?: number): Promise<void>;
  /** Reopen files / respawn children (SIGHUP, SIGUSR1). Optional. */
  reopen?(): Promise<void>;
  /** The output reports its own drops to its consumers (gRPC subscribers, in-stream), so the
   * manager's drop alerts skip it. */
  readonly reportsDropsInBand?: boolean;
}

export interface QueuedOutputOptions {
  /** Queue capacity in alerts (default 10 000). */
  readonly queueCapacity?: number;
  /** What a full queue does (default `drop-newest`). */
  readonly dropPolicy?: DropPolicy;
  /** Largest batch handed to deliverBatch (default 256). */
  readonly batchMax?: number;
  readonly logger?: Logger;
}

export const DEFAULT_OUTPUT_QUEUE_CAPACITY = 10_000;

export abstract class QueuedOutput implements Output {
  readonly name: string;
  abstract readonly kind: string;
  protected readonly logger: Logger;
  readonly #queue: BoundedQueue<Alert>;
  readonly #batchMax: number;
  #delivered = 0;
  #failed = 0;
  #inFlight = 0;
  #running = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #lastErrorLog = 0;
  #suppressedErrors = 0;

  constructor(name: string, opts: QueuedOutputOptions = {}) {
    this.name = name;
    this.logger = opts.logger ?? stderrLogger;
    this.#queue = new BoundedQueue<Alert>(
      opts.queueCapacity ?? DEFAULT_OUTPUT_QUEUE_CAPACITY,
      opts.dropPolicy ?? "drop-newest",
    );
    this.#batchMax = opts.batchMax ?? 256;
  }

  /**
   * Deliver a batch (in order). Throwing marks the whole batch failed; implementations
   * retry internally as their channel's policy says before throwing.
   */
  protected abstract deliverBatch(alerts: Alert[]): Promise<void>;

  /** Release channel resources. Called once by close() after the final flush. */
  protected abstract release(): Promise<void>;

  enqueue(alert: Alert): void {
    if (this.#closed) {
      this.#queue.dropped++;
      return;
    }
    this.#queue.push(alert);
    if (!this.#running) {
      this.#running = true;
      setImmediate(() => void this.#pump());
    }
  }

  stats(): OutputStats {
    return {
      name: this.name,
      kind: this.kind,
      delivered: this.#delivered,
      failed: this.#failed,
      dropped: this.#queue.dropped,
      queueDepth: this.#queue.length + this.#inFlight,
      queueCapacity: this.#queue.capacity,
    };
  }

  /** True while no alert is queued or being delivered. */
  get idle(): boolean {
    return !this.#running && this.#queue.length === 0 && this.#inFlight === 0;
  }

  async flush(deadlineMs: number): Promise<boolean> {
    if (this.idle) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolve) => {
      this.#idleWaiters.push(() => resolve(true));
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs));
    });
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(deadlineMs = 2000): Promise<void> {
    if (this.#closed) return;
    const ok = await this.flush(deadlineMs);
    this.#closed = true;
    if (!ok) {
      const left = this.#queue.length;
      this.#queue.dropped += left;
      this.#queue.clear();
      this.logger("warn", `output ${this.name}: closing with ${left} undelivered alerts (flush deadline)`);
    }
    await this.release();
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  /** Log a delivery error, at most once per 10 s (counting the ones in between). */
  protected reportError(what: string, err: unknown): void {
    const now = Date.now();
    if (now - this.#lastErrorLog < 10_000) {
      this.#suppressedErrors++;
      return;
    }
    const more = this.#suppressedErrors > 0 ? ` (${this.#suppressedErrors} similar errors suppressed)` : "";
    this.#lastErrorLog = now;
    this.#suppressedErrors = 0;
    this.logger("error", `output ${this.name}: ${what}: ${errorMessage(err)}${more}`);
  }

  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.take(this.#batchMax);
        this.#inFlight = batch.length;
        try {
          await this.deliverBatch(batch);
          this.#delivered += batch.length;
        } catch (err) {
          this.#failed += batch.length;
          this.reportError(`delivering ${batch.length} alert(s)`, err);
        } finally {
          this.#inFlight = 0;
        }
      }
    } finally {
      this.#running = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
