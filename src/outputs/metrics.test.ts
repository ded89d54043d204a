import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AlertHub } from "./grpc/hub.js";
import { GrpcOutput } from "./grpc/grpc-output.js";
import { MetricsRegistry, registerOutputMetrics } from "./metrics.js";
import { startMetricsServer } from "./metrics-server.js";
import { OutputManager } from "./output-manager.js";
import { makeAlert } from "./test-helpers.js";

describe("metrics", () => {
  it("serves Prometheus text at /metrics and /healthz", async () => {
    const reg = new MetricsRegistry();
    const hub = new AlertHub();
    const m = new OutputManager([new GrpcOutput(hub)], { hostname: "h", internalAlerts: false });
    registerOutputMetrics(reg, m, hub);
    const c = reg.counter("lanner_test_events_total", "Test events.");
    c.inc(3, { kind: 'a"b' });
    reg.gauge("lanner_test_temp", "Temp.").set(1.5);
    m.publish(makeAlert());
    let healthy = true;
    const srv = await startMetricsServer({
      address: "127.0.0.1:0",
      registry: reg,
      health: () => (healthy ? undefined : "ring buffer detached"),
    });
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.match(
        text,
        /# TYPE lanner_test_events_total counter\nlanner_test_events_total\{kind="a\\"b"\} 3\n/,
      );
      assert.match(text, /lanner_test_temp 1\.5\n/);
      assert.match(text, /lanner_alerts_published_total 1\n/);
      assert.match(text, /lanner_output_delivered_total\{kind="grpc",output="grpc"\} 0\n/);
      assert.match(text, /lanner_grpc_ring_depth 1\n/);
      assert.equal((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status, 200);
      healthy = false;
      const bad = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
      assert.equal(bad.status, 503);
      assert.equal(await bad.text(), "ring buffer detached\n");
      assert.equal((await fetch(`http://127.0.0.1:${srv.port}/nope`)).status, 404);
      assert.equal(reg.snapshot()["lanner_alerts_published_total"], 1);
    } finally {
      await srv.close();
      await m.close(100);
    }
  });
});
