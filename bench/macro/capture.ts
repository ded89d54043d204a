/**
 * Capture benchmark: in one run, a syscall-heavy loop (getppid; open+close) and a
 * fork+exec loop measured
 *   - untraced (baseline),
 *   - with empty programs on the selected mode's attach points (the kernel's floor),
 *   - under `lanner capture` of a small selection (execve, openat, connect) that the loop's
 *     syscalls are outside of,
 *   - under `lanner capture -t all` (every syscall delivered to JS),
 *   - under bpftrace printing every syscall (the peer),
 *   - (getppid) under the research prototype's design (bpf/floor.bpf.c, ref_*): it
 *     calibrates this VM against the day the absolute targets were set.
 * Prints syscalls/s, ratios to the untraced loop, syscalls delivered to JS per second and
 * drops. The loop runs pinned to CPU 0, the consumer to CPU 1. The prototype's design
 * emits two records per syscall (one at entry, one at exit): its "to JS/s" is records / 2,
 * syscalls like Lanner's one record per syscall, and its drops are records.
 *
 * BENCH_QUICK=1: short runs (CI smoke), targets printed but not enforced; the full run
 * exits 1 when a target is missed.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bpfObjectPath, packageRoot } from "../../src/capture/paths.js";
import {
  LOADGEN,
  loop as runLoop,
  loopAsync,
  median,
  NCPU,
  openFloor,
  perCpuSum,
  pin,
  pinnedTo,
  type LoopResult,
} from "../floor.helper.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const SECONDS = QUICK ? 0.4 : 3;
const RUNS = QUICK ? 1 : 3;
const SETTLE_MS = QUICK ? 300 : 2000;
const LANNER = join(packageRoot(), "bin/lanner");
const loop = (mode: string): LoopResult => runLoop(mode, SECONDS);

async function waitReady(child: ChildProcess, what: string): Promise<void> {
  let err = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: not ready after 20 s: ${err}`)), 20000);
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      if (/lanner: ready|Attaching \d+ probe/.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited (${code}) before ready: ${err}`));
    });
  });
}

interface TracedResult {
  loop: LoopResult;
  /** syscalls delivered to JS (records for Lanner; records / 2 for the prototype's design) */
  delivered: number;
  dropped: number;
  lost: number;
}

/** Runs the loop under `lanner capture` (a separate process, pinned to CPU 1). */
async function underLanner(mode: string, types: string): Promise<TracedResult> {
  const child = spawn(process.execPath, [LANNER, "capture", "-t", types, "-o", "none", "--stats"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (NCPU > 1 && child.pid)
    execFileSync("taskset", ["-a", "-p", "-c", "1", String(child.pid)], { stdio: "ignore" });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  let r: LoopResult;
  try {
    await waitReady(child, "lanner capture");
    // steady state: the agent's start-up work (container runtime listing, cgroup walk, GC
    // after seeding /proc) must not share the loop's physical core while it is measured
    await new Promise((res) => setTimeout(res, SETTLE_MS));
    r = loop(mode);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  await new Promise((res) => setTimeout(res, 100));
  child.kill("SIGINT");
  await new Promise((res) => child.on("exit", res));
  const num = (k: string): number => Number(new RegExp(`${k}=(\\d+)`).exec(stderr)?.[1] ?? NaN);
  return {
    loop: r,
    delivered: num("delivered"),
    dropped: num("dropped_ring") + num("dropped_scratch"),
    lost: 0,
  };
}

/** The kernel's floor: empty programs on sys_enter/sys_exit of execve, openat, connect. */
function underFloor(mode: string): LoopResult {
  const obj = openFloor(["floor_enter", "floor_exit"]);
  try {
    for (const s of ["execve", "openat", "connect"]) {
      obj.attachTracepoint("floor_enter", "syscalls", `sys_enter_${s}`);
      obj.attachTracepoint("floor_exit", "syscalls", `sys_exit_${s}`);
    }
    return loop(mode);
  } finally {
    obj.close();
  }
}

/**
 * The research prototype's design (capture-limits.md, C: "batch N=4096, NO_WAKEUP + 10 ms
 * timer"; 3.96 M getppid/s median, 4.8 M max on the day of the notes): a 32-byte event per
 * enter and per exit, drained by this process pinned to CPU 1, records counted in batches.
 */
function underReference(mode: string): Promise<TracedResult> {
  return pinnedTo(1, async () => {
    const obj = openFloor(["ref_enter", "ref_exit"], { ref_self_tgid: process.pid });
    try {
      obj.attach("ref_enter");
      obj.attach("ref_exit");
      let events = 0;
      obj.ringBuffer("ref_events", {
        batchBytes: 4096 * 40,
        pollMs: 10,
        onBatch: (_bytes, records) => (events += records),
      });
      await new Promise((res) => setTimeout(res, 300));
      events = 0; // what the loop's window delivers, not the settling time before it
      const r = await loopAsync(mode, SECONDS);
      await new Promise((res) => setTimeout(res, 50));
      // an entry record and an exit record per syscall
      return { loop: r, delivered: events / 2, dropped: perCpuSum(obj, "ref_drops"), lost: 0 };
    } finally {
      obj.close();
    }
  });
}

/** bpftrace printing every syscall exit of the loop's process, as the peer. */
async function underBpftrace(mode: string): Promise<TracedResult | null> {
  if (!existsSync("/usr/bin/bpftrace")) return null;
  const prog =
    'tracepoint:raw_syscalls:sys_exit /comm == "loadgen"/ { printf("%d %d %d %d\\n", pid, tid, args->id, args->ret); }';
  // bpftrace says "Attaching N probes..." on stdout once attached; its output is read and
  // discarded by this process (a pipe, like a user's `bpftrace | ...`).
  const argv = [...pin(1), "bpftrace", "-e", prog];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const attached = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bpftrace: not attached after 20 s: ${stderr}`)), 20000);
    let seen = "";
    child.stdout?.on("data", (d: Buffer) => {
      if (seen !== "done") {
        seen += d.toString();
        if (/Attaching \d+ probe/.test(seen)) {
          seen = "done";
          clearTimeout(t);
          resolve();
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`bpftrace exited (${code}): ${stderr}`)));
  });
  let r: LoopResult;
  try {
    await attached;
    await new Promise((res) => setTimeout(res, 200));
    r = loop(mode);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  child.kill("SIGINT");
  await new Promise((res) => child.on("exit", res));
  const lost = [...stderr.matchAll(/Lost (\d+) events/g)].reduce((a, m) => a + Number(m[1]), 0);
  return { loop: r, delivered: NaN, dropped: lost, lost };
}

/** getppid/s of the prototype's design in capture-limits.md (C, NO_WAKEUP + 10 ms timer). */
const PROTOTYPE_MEDIAN = 3.96e6;

const fmtM = (x: number): string => (Number.isFinite(x) ? `${(x / 1e6).toFixed(2)}M` : "-");
const fmtR = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "-");

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync(LOADGEN) || !existsSync(bpfObjectPath("capture"))) {
    console.log("bench capture: SKIP (needs root and `make build`)");
    return;
  }
  console.log(
    `bench capture: ${SECONDS}s per run, ${RUNS} run(s) each, median reported; loop on CPU 0, consumer on CPU 1`,
  );
  const rows: string[][] = [["loop", "config", "loop/s", "ratio", "to JS/s", "drops"]];
  /** each target's line and whether it is met */
  const targets: [string, boolean][] = [];
  for (const mode of ["getppid", "openclose"]) {
    const base = median(Array.from({ length: RUNS }, () => loop(mode).per_sec));
    const floorRuns: number[] = [];
    const sel: TracedResult[] = [];
    const all: TracedResult[] = [];
    const bt: TracedResult[] = [];
    const ref: TracedResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (mode === "getppid") ref.push(await underReference(mode));
      floorRuns.push(underFloor(mode).per_sec);
      sel.push(await underLanner(mode, "execve,openat,connect"));
      all.push(await underLanner(mode, "all"));
      const b = await underBpftrace(mode);
      if (b) bt.push(b);
    }
    const floor = median(floorRuns);
    const med = (rs: TracedResult[], f: (r: TracedResult) => number): number => median(rs.map(f));
    rows.push([mode, "untraced", fmtM(base), "1.00", "-", "-"]);
    rows.push([
      mode,
      "floor: empty progs (execve,openat,connect)",
      fmtM(floor),
      fmtR(floor / base),
      "-",
      "-",
    ]);
    const selRate = med(sel, (r) => r.loop.per_sec);
    rows.push([
      mode,
      "lanner capture -t execve,openat,connect",
      fmtM(selRate),
      fmtR(selRate / base),
      fmtM(med(sel, (r) => r.delivered / r.loop.seconds)),
      String(med(sel, (r) => r.dropped)),
    ]);
    const allRate = med(all, (r) => r.loop.per_sec);
    // Records delivered over the capture's whole life (start-up, other processes, shutdown)
    // over the loop's seconds overstate the rate; the loop's own traced rate bounds it.
    const allDelivered = Math.min(
      med(all, (r) => r.delivered / r.loop.seconds),
      med(all, (r) => r.loop.per_sec),
    );
    const allDrops = med(all, (r) => r.dropped);
    rows.push([
      mode,
      "lanner capture -t all",
      fmtM(allRate),
      fmtR(allRate / base),
      fmtM(allDelivered),
      String(allDrops),
    ]);
    if (bt.length) {
      const btRate = med(bt, (r) => r.loop.per_sec);
      rows.push([
        mode,
        "bpftrace printf every syscall",
        fmtM(btRate),
        fmtR(btRate / base),
        "-",
        String(med(bt, (r) => r.lost)),
      ]);
      rows.push([mode, "lanner all / bpftrace (loop speed)", "", fmtR(allRate / btRate), "", ""]);
    }
    const refRate = med(ref, (r) => r.loop.per_sec);
    if (ref.length) {
      rows.push([
        mode,
        "research prototype design (2 records/syscall; drops in records)",
        fmtM(refRate),
        fmtR(refRate / base),
        // other processes' syscalls count too: the loop's own traced rate bounds it, as for Lanner
        fmtM(
          Math.min(
            med(ref, (r) => r.delivered / r.loop.seconds),
            refRate,
          ),
        ),
        String(med(ref, (r) => r.dropped)),
      ]);
      rows.push([mode, "lanner all / prototype design (loop speed)", "", fmtR(allRate / refRate), "", ""]);
    }
    if (mode === "getppid") {
      if (ref.length)
        targets.push([
          `calibration: the prototype's design runs getppid at ${fmtM(refRate)}/s on this VM now, ${fmtR(refRate / PROTOTYPE_MEDIAN)} of its ${fmtM(PROTOTYPE_MEDIAN)} median when the targets were set; scaled the same way, 3.00M syscalls/s to JS then is ${fmtM(3e6 * (refRate / PROTOTYPE_MEDIAN))} now (Lanner delivers ${fmtM(allDelivered)}, ${allDrops} drops)`,
          allDelivered >= 3e6 * (refRate / PROTOTYPE_MEDIAN) && allDrops === 0,
        ]);
      targets.push([
        `getppid, capture all: ${fmtM(allDelivered)} syscalls/s delivered to JS with ${allDrops} drops (target >= 3.00M, 0 drops)`,
        allDelivered >= 3e6 && allDrops === 0,
      ]);
      const selRatio = selRate / base;
      const floorRatio = floor / base;
      targets.push([
        `getppid outside the selection: ${fmtR(selRatio)} of untraced vs floor ${fmtR(floorRatio)} (target: within 0.05 of the floor)`,
        selRatio >= floorRatio - 0.05,
      ]);
    }
  }
  // fork+exec: untraced vs default selection vs all
  const fe0 = median(Array.from({ length: RUNS }, () => loop("forkexec").per_sec));
  const fe1: TracedResult[] = [];
  for (let i = 0; i < RUNS; i++)
    fe1.push(await underLanner("forkexec", "execve,execveat,clone,clone3,fork,vfork,openat,connect"));
  const fe1r = median(fe1.map((r) => r.loop.per_sec));
  rows.push(["forkexec", "untraced (execs/s)", String(Math.round(fe0)), "1.00", "-", "-"]);
  rows.push([
    "forkexec",
    "lanner capture (process syscalls)",
    String(Math.round(fe1r)),
    fmtR(fe1r / fe0),
    "-",
    String(median(fe1.map((r) => r.dropped))),
  ]);
  targets.push([
    `fork+exec under capture: ${fmtR(fe1r / fe0)} of untraced (target: not measurably lower: >= 0.85, the noise is +-15 %)`,
    fe1r / fe0 >= 0.85,
  ]);

  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  for (const [t, ok] of targets) console.log(`target: ${t}: ${ok ? "MET" : "NOT MET"}`);
  if (targets.some(([, ok]) => !ok) && !QUICK) {
    console.log("bench capture: target(s) missed");
    process.exitCode = 1;
  }
}

await main();
