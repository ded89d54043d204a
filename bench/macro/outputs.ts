// Outputs macro benchmark: alerts/s through JSON rendering alone (baseline), to stdout
// (/dev/null), to a file, and to 10 gRPC subscribers (a separate process); p99 latency
// enqueue -> subscriber receipt at 1 000 alerts/s; peak RSS while one subscriber is stalled.
// BENCH_QUICK=1 runs each part briefly (CI smoke run).
//
// Run: npx tsc -p tsconfig.json && node dist/bench/macro/outputs.js

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { Alert } from "../../src/engine/alert.js";
import { FileOutput } from "../../src/outputs/file-output.js";
import { alertJson } from "../../src/outputs/format.js";
import { AlertHub } from "../../src/outputs/grpc/hub.js";
import { GrpcServer } from "../../src/outputs/grpc/server.js";
import type { QueuedOutput } from "../../src/outputs/output.js";
import { StdoutOutput } from "../../src/outputs/stdout-output.js";
import { makeAlert, makeClients, tempDir, waitFor } from "../../src/outputs/test-helpers.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const N = QUICK ? 20_000 : 200_000;
const results: Record<string, number | string> = {};

function report(name: string, value: number | string, unit = ""): void {
  results[name] = value;
  console.log(
    `${name.padEnd(44)} ${typeof value === "number" ? value.toFixed(value < 100 ? 2 : 0) : value} ${unit}`,
  );
}

/** A fresh alert (built per call, as the engine would, so nothing is retained or cached). */
function gen(i: number): Alert {
  return makeAlert({
    fields: { "proc.name": "bash", "proc.pid": i, "fd.name": `/etc/shadow${i}`, "proc.tty": null },
  });
}

/**
 * Publish n fresh alerts in slices so the output worker runs between them (as the event loop
 * would); `ready` paces the producer (false = wait 1 ms).
 */
async function pump(
  publish: (a: Alert) => void,
  n: number,
  slice = 1000,
  ready?: () => boolean,
): Promise<void> {
  for (let i = 0; i < n; i += slice) {
    for (let j = i; j < Math.min(i + slice, n); j++) publish(gen(j));
    await new Promise((r) => setImmediate(r));
    if (ready) while (!ready()) await new Promise((r) => setTimeout(r, 1));
  }
}

async function throughputQueued(name: string, out: QueuedOutput, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await pump(
    (a) => out.enqueue(a),
    n,
    1000,
    () => out.stats().queueDepth < 5000,
  );
  await out.flush(60_000);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const st = out.stats();
  report(`${name} alerts/s`, n / s);
  if (st.dropped || st.failed) report(`${name} dropped/failed`, `${st.dropped}/${st.failed}`);
  return n / s;
}

function subscriberProcess(
  address: string,
  k: number,
): { child: ChildProcess; counts: () => number[]; ready: Promise<void> } {
  const script = fileURLToPath(new URL("./outputs-subscriber.helper.js", import.meta.url));
  const child = spawn(process.execPath, [script, address, String(k)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let last: number[] = new Array<number>(k).fill(0);
  let buf = "";
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => (resolveReady = r));
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "ready") resolveReady();
      else if (line.startsWith("counts ")) last = line.slice(7).split(" ").map(Number);
    }
  });
  return { child, counts: () => last, ready };
}

async function main(): Promise<void> {
  console.log(`outputs bench (${QUICK ? "quick" : "full"}): ${N} alerts, node ${process.version}`);
  const tmp = tempDir("lanner-bench-");

  // 1. Baseline: building and rendering JSON only (after a warm-up, so the JIT is not measured).
  for (let i = 0; i < 20_000; i++) alertJson(gen(i));
  {
    const t0 = process.hrtime.bigint();
    let bytes = 0;
    for (let i = 0; i < N; i++) bytes += alertJson(gen(i)).length;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    report("build + render JSON only (baseline) alerts/s", N / s);
    report("JSON alert size bytes", bytes / N);
  }
  const base = results["build + render JSON only (baseline) alerts/s"] as number;

  // 2. stdout (/dev/null), JSON.
  {
    const fd = openSync("/dev/null", "w");
    const out = new StdoutOutput({ fd, format: "json", queueCapacity: 20_000 });
    const r = await throughputQueued("stdout(/dev/null) json", out, N);
    report("stdout(/dev/null) vs render-only ratio", r / base);
    await out.close();
    closeSync(fd);
  }

  // 3. file, JSON lines.
  {
    const out = new FileOutput({ path: join(tmp.path, "events.json"), queueCapacity: 20_000 });
    await out.open();
    const r = await throughputQueued("file json", out, N);
    report("file vs render-only ratio", r / base);
    await out.close();
  }

  const address = `unix://${join(tmp.path, "bench.sock")}`;
  // 4. 10 gRPC subscribers in another process.
  {
    const hub = new AlertHub({ subscriberQueueSize: 20_000, ringSize: 1000 });
    const server = new GrpcServer({
      address,
      hub,
      hostname: "bench",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    const sp = subscriberProcess(address, 10);
    await sp.ready;
    await hub.waitForSubscribers((n) => n === 10, 10_000);
    const M = Math.min(N, QUICK ? 10_000 : 50_000);
    const t0 = process.hrtime.bigint();
    let publishNs = 0n;
    await pump(
      (a) => {
        const p0 = process.hrtime.bigint();
        hub.publish(a);
        publishNs += process.hrtime.bigint() - p0;
      },
      M,
      500,
      () => hub.stats().perSubscriber.every((p) => p.queueDepth < 10_000),
    );
    await waitFor(() => sp.counts().every((c) => c >= M), 120_000, "subscribers");
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    report("grpc 10 subscribers alerts/s (each)", M / s);
    report("grpc 10 subscribers messages/s (total)", (10 * M) / s);
    report("grpc 10 subscribers drops", hub.stats().subscriberDrops);
    report("grpc 10 subscribers publish() cost ns/alert", Number(publishNs) / M);
    sp.child.kill("SIGKILL");
    await server.stop(500);
  }

  // 5. p99 latency enqueue -> receipt at 1 000 alerts/s (subscriber in this process, one clock).
  {
    const hub = new AlertHub({ subscriberQueueSize: 10_000 });
    const server = new GrpcServer({
      address,
      hub,
      hostname: "bench",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    const c = makeClients(address);
    const sent = new Map<string, bigint>();
    const lat: number[] = [];
    const sub = c.outputs["sub"]!() as ClientDuplexStream<object, Record<string, unknown>>;
    sub.write({});
    sub.on("data", (m) => {
      const t = sent.get(m["rule"] as string);
      if (t !== undefined) lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    });
    sub.on("error", () => {});
    await hub.waitForSubscribers((n) => n === 1);
    const seconds = QUICK ? 2 : 10;
    const total = seconds * 1000;
    const start = process.hrtime.bigint();
    let i = 0;
    while (i < total) {
      const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / 1e6));
      for (; i < due; i++) {
        const rule = `lat ${i}`;
        sent.set(rule, process.hrtime.bigint());
        hub.publish(makeAlert({ rule }));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor(() => lat.length >= total, 10_000, "latency samples");
    lat.sort((a, b) => a - b);
    const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    report("latency @1000/s p50 ms", q(0.5));
    report("latency @1000/s p99 ms", q(0.99));
    report("latency @1000/s max ms", lat[lat.length - 1]!);
    sub.cancel();
    c.close();
    await server.stop(500);
  }

  // 6. Peak RSS with one subscriber stalled (SIGSTOP) while another keeps up.
  {
    const hub = new AlertHub({ subscriberQueueSize: 1000 });
    const server = new GrpcServer({
      address,
      hub,
      hostname: "bench",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    await server.start();
    const stalled = subscriberProcess(address, 1);
    await stalled.ready;
    await hub.waitForSubscribers((n) => n === 1, 10_000);
    stalled.child.kill("SIGSTOP");
    const stalledId = hub.stats().perSubscriber[0]!.id;
    const stalledName = `#${stalledId}`;
    const live = subscriberProcess(address, 1);
    await live.ready;
    await hub.waitForSubscribers((n) => n === 2, 10_000);
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = process.hrtime.bigint();
    const liveStats = (): { queueDepth: number; dropped: number } =>
      hub.stats().perSubscriber.find((p) => `#${p.id}` !== stalledName) ?? { queueDepth: 0, dropped: 0 };
    // Paced by the live subscriber only: the stalled one must not matter.
    await pump(
      (a) => hub.publish(a),
      N,
      500,
      () => liveStats().queueDepth < 500,
    );
    await waitFor(() => (live.counts()[0] ?? 0) >= N - liveStats().dropped, 120_000, "live subscriber");
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const st = hub.stats();
    report("stalled-subscriber run: live alerts/s", N / s);
    report("stalled-subscriber run: RSS before MB", rss0 / 1e6);
    report("stalled-subscriber run: peak RSS MB", peak / 1e6);
    report("stalled-subscriber run: RSS growth MB", (peak - rss0) / 1e6);
    report(
      "stalled-subscriber run: stalled drops",
      st.perSubscriber.find((p) => p.id === stalledId)?.dropped ?? -1,
    );
    report("stalled-subscriber run: live drops", liveStats().dropped);
    report(
      "stalled-subscriber run: stalled queue depth",
      Math.max(...st.perSubscriber.map((p) => p.queueDepth)),
    );
    stalled.child.kill("SIGKILL");
    live.child.kill("SIGKILL");
    await server.stop(500);
  }

  tmp.cleanup();
  console.log(JSON.stringify({ bench: "outputs", quick: QUICK, n: N, results }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
