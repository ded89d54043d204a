/**
 * snapshot process: the processes (or threads) of the selected containers now. Read by a
 * BPF task iterator (program.bpf.c) that skips unselected cgroups in the kernel; where the
 * kernel refuses iter/task, read from /proc instead (and the readiness line says so).
 */
import { errorMessage } from "../../errors.js";
import type { BpfLink } from "../../native/index.js";
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource, SourceEvent } from "../gadget.js";
import { cString, GadgetObject, readHeader, u8 } from "../kernel-object.js";
import { LNG_PROCESS, LNG_PROCESS_FLAG } from "./layout.generated.js";
import { readProcTasks, taskEvent, type TaskRow } from "./proc-fallback.js";

/** The executable's path from its components, leaf first, each NUL-terminated. */
export function exePath(buf: Buffer, off: number, len: number): string {
  const parts = buf.toString("utf8", off, off + len).split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return `/${parts.reverse().join("/")}`;
}

/** Decodes one iteration's records. */
export function decodeTasks(data: Buffer): TaskRow[] {
  const out: TaskRow[] = [];
  let off = 0;
  while (off + LNG_PROCESS.SIZEOF <= data.length) {
    const h = readHeader(data, off);
    const exeLen = data.readUInt32LE(off + LNG_PROCESS.EXE_LEN);
    const flags = data.readUInt32LE(off + LNG_PROCESS.FLAGS);
    const tail = off + LNG_PROCESS.SIZEOF;
    if (tail + exeLen > data.length) break; // cannot happen: one record is written whole
    out.push({
      pid: h.pid,
      tid: h.tid,
      ppid: h.ppid,
      comm: cString(data, off + LNG_PROCESS.H_COMM, 16),
      euid: data.readUInt32LE(off + LNG_PROCESS.EUID),
      egid: data.readUInt32LE(off + LNG_PROCESS.EGID),
      vpid: data.readUInt32LE(off + LNG_PROCESS.VPID),
      vtid: data.readUInt32LE(off + LNG_PROCESS.VTID),
      nthreads: data.readUInt32LE(off + LNG_PROCESS.NTHREADS),
      startNs: data.readBigUInt64LE(off + LNG_PROCESS.START_NS),
      cgroupId: h.cgroupId,
      exepath:
        exeLen === 0 || (flags & LNG_PROCESS_FLAG.LNG_PROCESS_F_EXE_TRUNC) !== 0
          ? null
          : exePath(data, tail, exeLen),
    });
    off = tail + exeLen;
  }
  return out;
}

export const SNAPSHOT_PROCESS: GadgetSpec = {
  category: "snapshot",
  name: "process",
  summary: "the processes (or threads) of the selected containers now",
  common: [
    "proc.pid",
    "thread.tid",
    "proc.ppid",
    "proc.name",
    "proc.pname",
    "user.uid",
    "group.gid",
    ...PLACE_COMMON,
  ],
  columns: [
    ruleColumn("proc.vpid", { title: "VPID", width: 7, align: "right" }),
    ruleColumn("thread.vtid", { title: "VTID", width: 7, align: "right" }),
    {
      name: "process.threads",
      type: "uint32",
      desc: "Threads of the process.",
      title: "THREADS",
      width: 7,
      align: "right",
    },
    ruleColumn("proc.pid.ts", { title: "STARTED", width: 18 }),
    ruleColumn("proc.exepath", { title: "EXEPATH", width: 30, ellipsis: "start" }),
    ruleColumn("proc.cmdline", { title: "CMDLINE", width: 40 }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.name", "proc.pid", "thread.tid", "user.uid", "group.gid"],
  defaultSort: ["k8s.ns.name", "k8s.pod.name", "container.name", "proc.pid", "thread.tid"],
  params: [{ name: "threads", type: "boolean", desc: "one row per thread (default: one per process)" }],
  start(ctx: GadgetContext): RunningSource {
    const threads = ctx.params["threads"] === true;
    let obj: GadgetObject | null = null;
    let link: BpfLink | null = null;
    let why = "";
    try {
      obj = GadgetObject.load({
        dir: "snapshot-process",
        kernelFilter: ctx.kernelFilter,
        ringBytes: 4096, // the iterator writes to its seq file, not to the ring
        globals: { lng_threads: u8(threads ? 1 : 0) },
      });
      link = obj.obj.program("lng_snapshot_process").attach({ kind: "iter" });
    } catch (e) {
      obj?.close();
      obj = null;
      why = errorMessage(e).split("\n")[0] ?? "";
    }
    const rows = (tasks: readonly TaskRow[]): SourceEvent[] =>
      tasks.map((t) => taskEvent(t, ctx.procs.lookup(t.pid)?.cmdline ?? null, ctx.bootToWallNs));
    return {
      summary: link !== null ? "source=iter/task" : `source=/proc (iter/task unavailable: ${why})`,
      collect(): SourceEvent[] {
        if (link === null) return rows(readProcTasks(threads, process.pid));
        const r = link.readIter();
        if (r.truncated) ctx.lost(1, "snapshot larger than 64 MiB: the rest is not shown");
        return rows(decodeTasks(r.data));
      },
      stop: () => obj?.close(),
    };
  },
};
