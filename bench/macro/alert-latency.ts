/**
 * Syscall-to-subscriber latency: a running `lanner run --grpc` agent, a rule on opens of a
 * marker file, this process opening it ~1 000 times a second, one gRPC `sub` subscriber
 * timing each alert from the syscall's own timestamp (evt.time) to its receipt.
 * Prints p50/p99/max and alerts/s; target p99 < 10 ms at 1 000 alerts/s.
 * BENCH_QUICK=1: 1 s instead of 5 s.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { AgentProcess } from "../../test/helpers/agent.js";
import { makeClients } from "../../src/outputs/test-helpers.js";

type Msg = { time?: { seconds: string; nanos: number }; rule?: string };

const QUICK = process.env["BENCH_QUICK"] === "1";
const SECONDS = QUICK ? 1 : 5;
const RATE = 1000;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("bench alert-latency: SKIP (needs root)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "lanner-lat-"));
  const marker = join(dir, "marker");
  writeFileSync(marker, "");
  const rules = join(dir, "rules.yaml");
  writeFileSync(
    rules,
    `- rule: Latency marker\n  desc: bench\n  condition: evt.type in (open, openat) and fd.name = ${marker}\n` +
      `  output: "marker opened by %proc.name"\n  priority: NOTICE\n`,
  );
  const sock = join(dir, "lanner.sock");
  const agent = new AgentProcess([
    "-r",
    rules,
    "--grpc",
    `unix://${sock}`,
    "-o",
    "stdout_output.enabled=false",
  ]);
  try {
    await agent.ready();
    const c = makeClients(`unix://${sock}`);
    const lat: number[] = [];
    const s = (c.outputs["sub"] as () => ClientDuplexStream<Msg, Msg>).call(c.outputs);
    s.on("data", (m: Msg) => {
      if (m.rule !== "Latency marker" || !m.time) return;
      const sent = BigInt(m.time.seconds) * 1_000_000_000n + BigInt(m.time.nanos);
      const now = BigInt(Date.now()) * 1_000_000n;
      lat.push(Number(now - sent) / 1e6);
    });
    s.on("error", () => {});
    s.write({});
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    let opened = 0;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(RATE * SECONDS, Math.floor(((Date.now() - t0) / 1000) * RATE));
        while (opened < due) {
          closeSync(openSync(marker, "r"));
          opened++;
        }
        if (opened >= RATE * SECONDS) {
          clearInterval(tick);
          resolve();
        }
      }, 2);
    });
    const deadline = Date.now() + 3000;
    while (lat.length < opened && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    s.cancel();
    c.close();
    const sorted = [...lat].sort((a, b) => a - b);
    const q = (p: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    const p99 = q(0.99);
    console.log(
      `bench alert-latency: ${opened} opens in ${SECONDS}s (${Math.round(opened / SECONDS)}/s), ${lat.length} alerts received; ` +
        `syscall -> gRPC subscriber latency p50 ${q(0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(2)} ms`,
    );
    console.log(
      `target: p99 < 10 ms at ${RATE} alerts/s: ${p99 < 10 && lat.length === opened ? "MET" : "NOT MET"}`,
    );
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
