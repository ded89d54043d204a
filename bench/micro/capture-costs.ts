/**
 * What each part of the all-mode fast path costs a traced syscall, on this machine, now.
 * The getppid loop (CPU 0) runs untraced and then under bpf/floor.bpf.c's cost_* programs,
 * one part more each step (records drained by this process on CPU 1), interleaved round by
 * round so that the VM's drift hits every step alike. Prints ns added per syscall by each
 * part (median of the rounds) and the ceiling they leave for any design that delivers a
 * timestamped record per syscall.
 *
 * BENCH_QUICK=1: one short round (CI smoke).
 */
import { existsSync } from "node:fs";
import { bpfObjectPath } from "../../src/capture/paths.js";
import { LOADGEN, loopAsync, median, openFloor, pinnedTo } from "../floor.helper.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const SECONDS = QUICK ? 0.3 : 2;
const ROUNDS = QUICK ? 1 : 5;

interface Step {
  readonly label: string;
  readonly programs: readonly string[];
  readonly step: number;
}

const STEPS: readonly Step[] = [
  {
    label: "tp_btf sys_exit program that returns at once (the kernel's floor)",
    programs: ["cost_exit"],
    step: 0,
  },
  { label: "+ ring buffer reserve and submit of a 104-byte record", programs: ["cost_exit"], step: 1 },
  { label: "+ bpf_ktime_get_boot_ns()", programs: ["cost_exit"], step: 2 },
  { label: "+ pid/tid, cpu, creds, six argument registers", programs: ["cost_exit"], step: 3 },
  { label: "+ cgroup id (four pointer loads)", programs: ["cost_exit"], step: 4 },
  {
    label: "+ an empty tp_btf sys_enter program (what all-mode avoids)",
    programs: ["cost_exit", "cost_enter"],
    step: 4,
  },
];

/** ns per getppid loop iteration under one step. */
async function under(s: Step | null): Promise<number> {
  if (s === null) return 1e9 / (await loopAsync("getppid", SECONDS)).per_sec;
  const obj = openFloor(s.programs, { ref_self_tgid: process.pid, cost_step: s.step });
  try {
    for (const p of s.programs) obj.attach(p);
    obj.ringBuffer("ref_events", { batchBytes: 1 << 20, pollMs: 10, onBatch: () => {} });
    await new Promise((r) => setTimeout(r, 200));
    return 1e9 / (await loopAsync("getppid", SECONDS)).per_sec;
  } finally {
    obj.close();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync(LOADGEN) || !existsSync(bpfObjectPath("floor"))) {
    console.log("bench capture-costs: SKIP (needs root and `make build`)");
    return;
  }
  console.log(`bench capture-costs: getppid, ${SECONDS}s per step, ${ROUNDS} interleaved round(s), medians`);
  const base: number[] = [];
  const byStep: number[][] = STEPS.map(() => []);
  await pinnedTo(1, async () => {
    for (let r = 0; r < ROUNDS; r++) {
      base.push(await under(null));
      for (let i = 0; i < STEPS.length; i++) byStep[i]!.push(await under(STEPS[i]!));
    }
  });
  const b = median(base);
  console.log(`untraced: ${b.toFixed(0)} ns per syscall (${(1e3 / b).toFixed(2)} M/s)`);
  for (let i = 0; i < STEPS.length; i++) {
    // each step's cost: the median over rounds of (this step - the step before) in that round
    const before = i === 0 ? base : byStep[i - 1]!;
    const added = median(byStep[i]!.map((x, r) => x - before[r]!));
    const total = median(byStep[i]!);
    console.log(
      `${STEPS[i]!.label.padEnd(72)} +${added.toFixed(0).padStart(4)} ns  (${total.toFixed(0)} ns, ${(1e3 / total).toFixed(2)} M/s)`,
    );
  }
  const record = median(byStep[2]!);
  console.log(
    `ceiling for any design that delivers a timestamped record per syscall here: ${(1e3 / record).toFixed(2)} M syscalls/s`,
  );
}

await main();
