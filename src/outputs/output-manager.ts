// OutputManager: fans each alert out to every configured output. publish() only enqueues, so
// the event path never waits on a channel; each output drains its own queue. Drops and
// delivery failures are reported as internal alerts (source `internal`), at most one per
// output per interval (Falco's drop alert is rate-limited the same way).

import type { Alert } from "../engine/alert.js";
import { internalAlert } from "../engine/alert.js";
import { stderrLogger, type Logger } from "./logger.js";
import type { Output, OutputStats } from "./output.js";

export const OUTPUT_DROP_RULE = "Lanner internal: output dropped alerts";
export const OUTPUT_FAILURE_RULE = "Lanner internal: output delivery failed";

export interface OutputManagerOptions {
  readonly hostname: string;
  readonly logger?: Logger;
  /** Emit internal alerts for drops/failures (default true). */
  readonly internalAlerts?: boolean;
  /** How often counters are checked (default 1000 ms). */
  readonly checkIntervalMs?: number;
  /** Minimum time between two internal alerts about one output (default 30 000 ms). */
  readonly reportIntervalMs?: number;
}

export interface OutputManagerStats {
  readonly published: number;
  readonly internalAlerts: number;
  readonly outputs: readonly OutputStats[];
}

interface Seen {
  dropped: number;
  failed: number;
  lastReport: number;
}

export class OutputManager {
  readonly #outputs: Output[];
  readonly #opts: OutputManagerOptions;
  readonly #logger: Logger;
  readonly #seen = new Map<Output, Seen>();
  #timer: NodeJS.Timeout | undefined;
  #published = 0;
  #internal = 0;
  #closed = false;

  constructor(outputs: readonly Output[], opts: OutputManagerOptions) {
    this.#outputs = [...outputs];
    this.#opts = opts;
    this.#logger = opts.logger ?? stderrLogger;
    for (const o of outputs) this.#seen.set(o, { dropped: 0, failed: 0, lastReport: 0 });
    if (opts.internalAlerts !== false) {
      this.#timer = setInterval(() => this.checkCounters(), opts.checkIntervalMs ?? 1000);
      this.#timer.unref();
    }
  }

  get outputs(): readonly Output[] {
    return this.#outputs;
  }

  /** Hand an alert to every output. Never blocks, never throws. */
  publish(alert: Alert): void {
    if (this.#closed) return;
    this.#published++;
    for (const o of this.#outputs) {
      try {
        o.enqueue(alert);
      } catch (err) {
        this.#logger("error", `output ${o.name}: enqueue: ${String(err)}`);
      }
    }
  }

  stats(): OutputManagerStats {
    return {
      published: this.#published,
      internalAlerts: this.#internal,
      outputs: this.#outputs.map((o) => o.stats()),
    };
  }

  /** Counters as a plain object, Prometheus-style names with an `output` label. */
  metrics(): Record<string, number> {
    const m: Record<string, number> = {
      lanner_alerts_published_total: this.#published,
      lanner_internal_alerts_total: this.#internal,
    };
    for (const s of this.#outputs.map((o) => o.stats())) {
      const l = `{output="${s.name}",kind="${s.kind}"}`;
      m[`lanner_output_delivered_total${l}`] = s.delivered;
      m[`lanner_output_failed_total${l}`] = s.failed;
      m[`lanner_output_dropped_total${l}`] = s.dropped;
      m[`lanner_output_queue_depth${l}`] = s.queueDepth;
      m[`lanner_output_queue_capacity${l}`] = s.queueCapacity;
    }
    return m;
  }

  /**
   * Compare counters with the last check and publish internal alerts for new drops or
   * failures (rate-limited per output). gRPC subscriber drops are reported in-stream instead.
   * Returns the alerts published. Called by the internal timer; public for tests.
   */
  checkCounters(now = Date.now()): Alert[] {
    const out: Alert[] = [];
    for (const o of this.#outputs) {
      if (o.reportsDropsInBand === true) continue;
      const seen = this.#seen.get(o);
      if (seen === undefined) continue;
      if (now - seen.lastReport < (this.#opts.reportIntervalMs ?? 30_000)) continue;
      const s = o.stats();
      const dropped = s.dropped - seen.dropped;
      const failed = s.failed - seen.failed;
      if (dropped <= 0 && failed <= 0) continue;
      seen.dropped = s.dropped;
      seen.failed = s.failed;
      seen.lastReport = now;
      const fields = {
        output: o.name,
        output_kind: o.kind,
        n_drops: dropped,
        n_failed: failed,
        n_drops_total: s.dropped,
        n_failed_total: s.failed,
        queue_capacity: s.queueCapacity,
      };
      const a =
        dropped > 0
          ? internalAlert({
              rule: OUTPUT_DROP_RULE,
              hostname: this.#opts.hostname,
              message: `${dropped} alerts dropped by output ${o.name} (queue of ${s.queueCapacity} full)${failed > 0 ? `, ${failed} failed` : ""}`,
              outputFields: fields,
            })
          : internalAlert({
              rule: OUTPUT_FAILURE_RULE,
              hostname: this.#opts.hostname,
              message: `${failed} alerts could not be delivered by output ${o.name}`,
              outputFields: fields,
            });
      this.#logger("warn", a.message);
      out.push(a);
    }
    for (const a of out) {
      this.#internal++;
      this.publish(a);
    }
    return out;
  }

  /** Reopen files and restart children (the agent calls this on SIGHUP/SIGUSR1). */
  async reopen(): Promise<void> {
    await Promise.all(
      this.#outputs.map(async (o) => {
        try {
          await o.reopen?.();
        } catch (err) {
          this.#logger("error", `output ${o.name}: reopen: ${String(err)}`);
        }
      }),
    );
  }

  /** Resolve true once every output drained what was enqueued, false at the deadline. */
  async flush(deadlineMs: number): Promise<boolean> {
    const r = await Promise.all(this.#outputs.map((o) => o.flush(deadlineMs)));
    return r.every(Boolean);
  }

  /** Flush within deadlineMs, then close every output. Idempotent. */
  async close(deadlineMs = 2000): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    const start = Date.now();
    const flushed = await this.flush(deadlineMs);
    this.#closed = true;
    if (!flushed)
      this.#logger("warn", `outputs: flush deadline of ${deadlineMs} ms passed with alerts still queued`);
    const left = Math.max(100, deadlineMs - (Date.now() - start));
    await Promise.all(
      this.#outputs.map((o) =>
        o
          .close(left)
          .catch((err: unknown) => this.#logger("error", `output ${o.name}: close: ${String(err)}`)),
      ),
    );
  }
}
