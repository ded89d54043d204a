/**
 * Shared by the capture benchmarks: the load generator, and bpf/floor.bpf.c (reference
 * programs: the kernel's floor, the research prototype's design, the fast path's parts).
 */
import { execFile, execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { bpfObjectPath, packageRoot } from "../src/capture/paths.js";
import { BpfObject, numPossibleCpus } from "../src/native/index.js";

export const LOADGEN = join(packageRoot(), "bench/.output/loadgen");
export const NCPU = cpus().length;
/** The loop runs on CPU 0, consumers on CPU 1 (when there are two). */
export const pin = (cpu: number): string[] => (NCPU > 1 ? ["taskset", "-c", String(cpu)] : []);

export interface LoopResult {
  per_sec: number;
  syscalls: number;
  seconds: number;
  /** operations (loops of the mode: an open+close is one) */
  ops: number;
  /** the loop's CPU time (user + system, BPF programs included), whatever else ran */
  cpu_seconds: number;
}

/** Runs the load generator (blocking this process: nothing in it can consume meanwhile). */
export function loop(mode: string, seconds: number): LoopResult {
  const cmd = [...pin(0), LOADGEN, mode, String(seconds)];
  return JSON.parse(execFileSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" })) as LoopResult;
}

/** The same without blocking this process's event loop (for in-process ring consumers). */
export async function loopAsync(mode: string, seconds: number): Promise<LoopResult> {
  const cmd = [...pin(0), LOADGEN, mode, String(seconds)];
  const { stdout } = await promisify(execFile)(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  return JSON.parse(stdout) as LoopResult;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** Opens bpf/floor.bpf.o with only `programs` loaded and the given u32 globals set. */
export function openFloor(programs: readonly string[], globals: Record<string, number> = {}): BpfObject {
  const obj = BpfObject.open(bpfObjectPath("floor"));
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, programs.includes(p.name));
    for (const [name, v] of Object.entries(globals)) {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      obj.setGlobal(name, b);
    }
    obj.load();
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** Sum over CPUs of a one-entry per-CPU u64 array. */
export function perCpuSum(obj: BpfObject, map: string): number {
  const m = obj.map(map);
  const vals = Buffer.alloc(numPossibleCpus() * 8);
  m.lookup(Buffer.alloc(4), vals);
  return m.perCpuValues(vals).reduce((a, v) => a + Number(v.readBigUInt64LE(0)), 0);
}

/** Runs `fn` with this whole process pinned to `cpu`, then unpins it. */
export async function pinnedTo<T>(cpu: number, fn: () => Promise<T>): Promise<T> {
  const self = String(process.pid);
  if (NCPU > 1) execFileSync("taskset", ["-a", "-p", "-c", String(cpu), self], { stdio: "ignore" });
  try {
    return await fn();
  } finally {
    if (NCPU > 1) execFileSync("taskset", ["-a", "-p", "-c", `0-${NCPU - 1}`, self], { stdio: "ignore" });
  }
}
