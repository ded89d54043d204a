/**
 * What the packet gadgets cost (trace dns, trace sni): loopback workloads run untraced,
 * then under each gadget (`--host -o json`, output to /dev/null):
 *   - echo-udp, echo-tcp: 64-byte round trips on a non-DNS port (what every other packet of
 *     the node pays: the cgroup_skb programs look and let go),
 *   - dns: queries and responses on one UDP socket to a local DNS server (each message copied,
 *     parsed and printed: 4 events per query, both sockets seeing both messages).
 * Prints each workload's time and its ratio to the untraced run, the programs' own cost from
 * the kernel's BPF statistics (run time / runs per program, when kernel.bpf_stats_enabled is
 * on) and the gadget's CPU per event.
 *
 * BENCH_QUICK=1: short runs (CI smoke).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const N = QUICK ? 2000 : 20000;
const NDNS = QUICK ? 500 : 5000;
const RUNS = QUICK ? 1 : 3;
const PY = "/usr/bin/python3";
const FIXTURE = join(packageRoot(), "test/fixtures/packets.py");
const LANNER = join(packageRoot(), "bin/lanner");
const ADDR = `127.77.${process.pid % 250}.1`;

/** program.bpf.c's programs (bpftool shows 15 characters of a name) */
const PROGRAMS = new Set(
  [
    "lng_egress",
    "lng_ingress",
    "lng_sock_create",
    "lng_post_bind4",
    "lng_post_bind6",
    "lng_connect4",
    "lng_connect6",
    "lng_sendmsg4",
    "lng_sendmsg6",
    "lng_recvmsg4",
    "lng_recvmsg6",
    "lng_send_length",
    "lng_recv_length",
  ].map((n) => n.slice(0, 15)),
);

interface Prog {
  id: number;
  name: string;
  run_time_ns?: number;
  run_cnt?: number;
}

function progs(): Prog[] {
  return JSON.parse(
    execFileSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8", maxBuffer: 64 << 20 }),
  ) as Prog[];
}

function py(...args: string[]): number {
  const out = execFileSync(PY, [FIXTURE, ...args], { encoding: "utf8" });
  return (JSON.parse(out.trim().split("\n").pop() ?? "{}") as { seconds: number }).seconds;
}

const WORKLOADS: [string, () => number][] = [
  ["echo-udp", () => py("echo-flood", "udp", "127.0.0.1", String(N))],
  ["echo-tcp", () => py("echo-flood", "tcp", "127.0.0.1", String(N))],
  ["dns", () => py("dns-flood", ADDR, String(NDNS))],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(f[11]) + Number(f[12]); // utime + stime (clock ticks)
}

async function startGadget(name: string): Promise<{ child: ChildProcess; stats: () => string }> {
  const child = spawn(process.execPath, [LANNER, "trace", name, "--host", "-o", "json"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const t0 = Date.now();
  while (!err.includes("lanner: ready")) {
    if (Date.now() - t0 > 30000 || child.exitCode !== null) throw new Error(`trace ${name}: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, stats: () => err };
}

async function main(): Promise<void> {
  const server = spawn(PY, [FIXTURE, "dns-server", ADDR], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  try {
    console.log(
      `packets bench: ${N} round trips (echo), ${NDNS} queries (dns), median of ${RUNS}; load ${loadavg()[0]?.toFixed(2)}`,
    );
    const base = new Map<string, number>();
    for (const [w, run] of WORKLOADS) {
      base.set(w, median(Array.from({ length: RUNS }, run)));
      console.log(`  untraced      ${w.padEnd(9)} ${(base.get(w) as number).toFixed(3)} s`);
    }
    for (const gadget of ["dns", "sni"]) {
      const before = new Set(progs().map((p) => p.id));
      const g = await startGadget(gadget);
      const mine = progs().filter((p) => !before.has(p.id) && PROGRAMS.has(p.name));
      const at = (): Map<number, Prog> => new Map(progs().map((p) => [p.id, p]));
      const cpu0 = cpuTicks(g.child.pid as number);
      const s0 = at();
      for (const [w, run] of WORKLOADS) {
        const t = median(Array.from({ length: RUNS }, run));
        console.log(
          `  trace ${gadget.padEnd(7)} ${w.padEnd(9)} ${t.toFixed(3)} s  x${(t / (base.get(w) as number)).toFixed(2)}`,
        );
      }
      const s1 = at();
      await new Promise((r) => setTimeout(r, 1500)); // the last events printed
      const cpu = (cpuTicks(g.child.pid as number) - cpu0) * 10; // ms, at 100 ticks/s
      g.child.kill("SIGINT");
      await new Promise((r) => g.child.once("exit", r));
      // (bpftool leaves out run_cnt and run_time_ns while they are 0, and always when the
      // kernel's BPF statistics are off)
      let measured = false;
      for (const p of mine) {
        const a = s0.get(p.id);
        const b = s1.get(p.id);
        const runs = (b?.run_cnt ?? 0) - (a?.run_cnt ?? 0);
        const ns = (b?.run_time_ns ?? 0) - (a?.run_time_ns ?? 0);
        if (runs <= 0) continue;
        measured = true;
        console.log(
          `    ${p.name.padEnd(16)} ${String(runs).padStart(9)} runs  ${(ns / runs).toFixed(0).padStart(5)} ns/run`,
        );
      }
      if (!measured)
        console.log("    (no BPF statistics: sysctl kernel.bpf_stats_enabled=1 to see each program's cost)");
      const events = Number(/events=(\d+)/.exec(g.stats())?.[1] ?? 0);
      const lost = /lost=(\d+)/.exec(g.stats())?.[1];
      console.log(
        `    gadget CPU ${cpu} ms for ${events} events${events > 0 ? ` (${((cpu * 1000) / events).toFixed(1)} us/event)` : ""}, lost=${lost}`,
      );
    }
  } finally {
    server.kill("SIGKILL");
  }
}

await main();
