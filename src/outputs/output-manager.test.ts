import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants as fsConstants, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Alert } from "../engine/alert.js";
import { BoundedQueue } from "./bounded-queue.js";
import { FileOutput } from "./file-output.js";
import { QueuedOutput } from "./output.js";
import { OUTPUT_DROP_RULE, OutputManager } from "./output-manager.js";
import { StdoutOutput } from "./stdout-output.js";
import { makeAlert, tempDir } from "./test-helpers.js";

/** An output whose channel never completes: the worst case for the others. */
class BlockedOutput extends QueuedOutput {
  readonly kind = "blocked";
  protected deliverBatch(): Promise<void> {
    return new Promise(() => {});
  }
  protected async release(): Promise<void> {}
}

describe("bounded queue", () => {
  it("drops newest or oldest when full, counting", () => {
    const n = new BoundedQueue<number>(3, "drop-newest");
    const o = new BoundedQueue<number>(3, "drop-oldest");
    for (let i = 0; i < 5; i++) {
      n.push(i);
      o.push(i);
    }
    assert.deepEqual(n.toArray(), [0, 1, 2]);
    assert.deepEqual(o.toArray(), [2, 3, 4]);
    assert.equal(n.dropped, 2);
    assert.equal(o.dropped, 2);
    assert.deepEqual(o.take(2), [2, 3]);
    assert.equal(o.length, 1);
  });
});

describe("output manager", () => {
  it("a blocked output never delays the others; its drops become an internal alert", async () => {
    const tmp = tempDir();
    const path = join(tmp.path, "a.json");
    const blocked = new BlockedOutput("stuck", { queueCapacity: 10, logger: () => {} });
    const file = new FileOutput({ path, logger: () => {} });
    const m = new OutputManager([blocked, file], {
      hostname: "node-1",
      logger: () => {},
      reportIntervalMs: 0,
    });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 500; i++) m.publish(makeAlert({ fields: { i } }));
    const publishNs = process.hrtime.bigint() - t0;
    assert.ok(publishNs < 200_000_000n, `publish took ${publishNs} ns`);
    assert.equal(await file.flush(3000), true);
    assert.equal(file.stats().delivered, 500);
    const b = blocked.stats();
    assert.equal(b.delivered, 0);
    // Enqueued in one tick: 10 fit, the worker took them as one (never-ending) batch.
    assert.equal(b.dropped, 490);
    assert.equal(b.queueDepth, 10);
    const internal = m.checkCounters();
    assert.equal(internal.length, 1);
    const a = internal[0] as Alert;
    assert.equal(a.rule, OUTPUT_DROP_RULE);
    assert.equal(a.source, "internal");
    assert.equal(a.outputFields["output"], "stuck");
    assert.equal(a.outputFields["n_drops"], 490);
    await file.flush(3000);
    const lines = readFileSync(path, "utf8").trim().split("\n");
    assert.equal(lines.length, 501);
    assert.match(lines[500]!, /"source":"internal"/);
    const metrics = m.metrics();
    assert.equal(metrics["lanner_alerts_published_total"], 501);
    assert.equal(metrics['lanner_output_delivered_total{output="file",kind="file"}'], 501);
    assert.equal(metrics['lanner_output_dropped_total{output="stuck",kind="blocked"}'], 490);
    // flush() reports the blocked output; close() still returns within its deadline.
    assert.equal(await m.flush(100), false);
    const c0 = Date.now();
    await m.close(300);
    assert.ok(Date.now() - c0 < 1500);
    tmp.cleanup();
  });

  it("stdout output writes lines to its fd; reopen reaches file outputs", async () => {
    const tmp = tempDir();
    const p = join(tmp.path, "stdout.txt");
    const fd = openSync(p, "w");
    const s = new StdoutOutput({ fd, format: "json" });
    const f = new FileOutput({ path: join(tmp.path, "f.json") });
    const m = new OutputManager([s, f], { hostname: "h", internalAlerts: false });
    m.publish(makeAlert({ rule: "to stdout" }));
    await m.reopen();
    assert.equal(f.reopens, 1);
    assert.equal(await m.flush(2000), true);
    await m.close();
    closeSync(fd);
    assert.match(readFileSync(p, "utf8"), /^\{"time":"[^"]+","rule":"to stdout".*\}\n$/);
    tmp.cleanup();
  });

  it("stdout to a pipe nobody reads never stalls the event loop; overflow is dropped and counted", async () => {
    const tmp = tempDir();
    const fifo = join(tmp.path, "fifo");
    execFileSync("mkfifo", [fifo]);
    // Hold the read end open without ever reading it.
    const rfd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const wfd = openSync(fifo, "w");
    const out = new StdoutOutput({ fd: wfd, format: "json", queueCapacity: 1000, logger: () => {} });
    for (let i = 0; i < 5000; i++) out.enqueue(makeAlert({ message: "x".repeat(200) }));
    // The pipe (64 KiB) fills; the event loop keeps running timers on time.
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      await new Promise((r) => setTimeout(r, 10));
      lags.push(Date.now() - t - 10);
    }
    assert.ok(Math.max(...lags) < 200, `event loop lag ${lags.join(",")}`);
    const st = out.stats();
    assert.equal(st.dropped, 4000);
    assert.ok(st.delivered < 1000, `delivered ${st.delivered}`);
    // The reader goes away: the blocked write fails (EPIPE) and the output stays usable.
    closeSync(rfd);
    await out.flush(3000);
    assert.ok(out.stats().failed > 0);
    await out.close(200);
    closeSync(wfd);
    tmp.cleanup();
  });
});
