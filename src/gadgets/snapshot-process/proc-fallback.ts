/**
 * snapshot process without the task iterator: the same rows read from /proc (status for the
 * name, parent, ids and namespaced pids; cgroup for the container; stat for the start time).
 * Slower, racy (processes come and go while the directories are read) and unselected in the
 * kernel, so it is only the fallback for kernels that refuse iter/task.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { cgroupIdOf } from "../container-filter.js";
import type { SourceEvent } from "../gadget.js";

/** What both sources know about one task. */
export interface TaskRow {
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly euid: number;
  readonly egid: number;
  readonly vpid: number;
  readonly vtid: number;
  readonly nthreads: number;
  /** when the process started (its main thread), boot-time ns; null when unknown */
  readonly startNs: bigint | null;
  readonly cgroupId: bigint | undefined;
  /** from the process's own root; null: none (kernel thread) or unreadable */
  readonly exepath: string | null;
}

const CLK_TCK = 100;

function statusField(status: string, key: string): string | undefined {
  const m = new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status);
  return m?.[1];
}

/** The last number of an NSpid line: the id in the innermost pid namespace. */
function innermost(v: string | undefined, fallback: number): number {
  const parts = (v ?? "").trim().split(/\s+/);
  const n = Number(parts[parts.length - 1]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function readTask(procRoot: string, pid: number, tid: number): TaskRow | null {
  const dir = tid === pid ? `${procRoot}/${pid}` : `${procRoot}/${pid}/task/${tid}`;
  let status: string;
  let mainStatus: string;
  let stat: string;
  try {
    status = readFileSync(`${dir}/status`, "utf8");
    // the process's namespaced pid and start time (a thread's own files have its tid's)
    mainStatus = tid === pid ? status : readFileSync(`${procRoot}/${pid}/status`, "utf8");
    stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return null; // gone while reading
  }
  const ids = (key: string): number[] => (statusField(status, key) ?? "").trim().split(/\s+/).map(Number);
  // stat: "pid (comm) state ppid ...": field 22 (starttime) counts from the one after ')'
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(rest[19]);
  let exepath: string | null;
  try {
    exepath = readlinkSync(`${procRoot}/${pid}/exe`);
  } catch {
    exepath = null; // a kernel thread, or no ptrace rights on it
  }
  return {
    pid,
    tid,
    ppid: Number(statusField(status, "PPid") ?? 0),
    comm: statusField(status, "Name") ?? "",
    euid: ids("Uid")[1] ?? 0,
    egid: ids("Gid")[1] ?? 0,
    vpid: innermost(statusField(mainStatus, "NSpid"), pid),
    vtid: innermost(statusField(status, "NSpid"), tid),
    nthreads: Number(statusField(status, "Threads") ?? 1),
    startNs: Number.isFinite(start) ? (BigInt(start) * 1_000_000_000n) / BigInt(CLK_TCK) : null,
    cgroupId: cgroupIdOf(pid, procRoot),
    exepath,
  };
}

/** Every process (or, with `threads`, every thread) /proc lists now, but `self`. */
export function readProcTasks(threads: boolean, self: number, procRoot = "/proc"): TaskRow[] {
  const out: TaskRow[] = [];
  for (const name of readdirSync(procRoot)) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === self) continue;
    let tids = [pid];
    if (threads) {
      try {
        tids = readdirSync(`${procRoot}/${pid}/task`)
          .map(Number)
          .filter((t) => Number.isInteger(t) && t > 0);
      } catch {
        continue;
      }
    }
    for (const tid of tids) {
      const row = readTask(procRoot, pid, tid);
      if (row !== null) out.push(row);
    }
  }
  return out;
}

/** A task as the gadget's source event. */
export function taskEvent(t: TaskRow, cmdline: string | null, bootToWallNs: bigint): SourceEvent {
  return {
    pid: t.pid,
    tid: t.tid,
    ...(t.cgroupId !== undefined ? { cgroupId: t.cgroupId } : {}),
    fields: {
      "proc.name": t.comm,
      "proc.ppid": t.ppid,
      "user.uid": t.euid,
      "group.gid": t.egid,
      "proc.vpid": t.vpid,
      "thread.vtid": t.vtid,
      "proc.exepath": t.exepath,
      "proc.cmdline": cmdline,
      "proc.pid.ts": t.startNs === null ? null : t.startNs + bootToWallNs,
      "process.threads": t.nthreads,
    },
  };
}
