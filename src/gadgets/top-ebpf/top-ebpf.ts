/**
 * top ebpf: every BPF program of the node, per interval: how long it ran and how often
 * (the kernel's run-time statistics, switched on with BPF_ENABLE_STATS while the gadget
 * runs), since the gadget started and since it was loaded, its maps and their memory, and
 * the processes holding it (a task_file iterator: program.bpf.c).
 *
 * Programs are the node's, not a container's; a row belongs to a process that holds the
 * program, so the selection applies to that process: -n/-p/-c/-l show the programs a
 * selected container's process holds (the first such holder is the row's process), --host
 * those of host processes and those no process holds (pinned, or kept by an attachment).
 */
import { cpus } from "node:os";
import { errorMessage, LannerError } from "../../errors.js";
import {
  BpfStats,
  programIds,
  programInfo,
  systemMapInfo,
  type BpfLink,
  type SystemProgram,
} from "../../native/index.js";
import { PLACE_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetRecord, GadgetSpec, RunningSource, SourceEvent } from "../gadget.js";
import { GadgetObject, headerEvent, readHeader, type GadgetHeader } from "../kernel-object.js";
import { LNG_EBPF_HOLDER } from "./layout.generated.js";

/** A process holding a program (through a program fd or a link fd). */
export interface Holder {
  readonly header: GadgetHeader;
  readonly progId: number;
  /** the selection drops this process (its cgroup's verdict in the kernel) */
  readonly dropped: boolean;
}

/** One iteration's records: the holders of each program, one per process, in pid order. */
export function decodeHolders(data: Buffer): Map<number, Holder[]> {
  const out = new Map<number, Holder[]>();
  for (let off = 0; off + LNG_EBPF_HOLDER.SIZEOF <= data.length; off += LNG_EBPF_HOLDER.SIZEOF) {
    const progId = data.readUInt32LE(off + LNG_EBPF_HOLDER.PROG_ID);
    const header = readHeader(data, off);
    const list = out.get(progId) ?? [];
    if (list.some((h) => h.header.pid === header.pid)) continue; // its program fd and link fd
    list.push({ header, progId, dropped: data.readUInt32LE(off + LNG_EBPF_HOLDER.DROPPED) !== 0 });
    out.set(progId, list);
  }
  return out;
}

interface Counts {
  readonly t: bigint;
  readonly c: bigint;
}

const ns = (name: string, desc: string, title: string, width = 10): GadgetSpec["columns"][number] => ({
  name,
  type: "reltime",
  desc,
  title,
  width,
  align: "right",
});
const count = (name: string, desc: string, title: string, width = 10): GadgetSpec["columns"][number] => ({
  name,
  type: "uint64",
  desc,
  title,
  width,
  align: "right",
});

/** Reads run-time statistics of every program and keeps the previous reading for deltas. */
class Sampler {
  private prev = new Map<number, Counts>();
  private readonly base = new Map<number, Counts>();
  private lastNs = process.hrtime.bigint();
  private readonly ncpus = Math.max(1, cpus().length);

  constructor() {
    for (const p of this.read()) this.base.set(p.id, { t: p.runTimeNs, c: p.runCount });
    this.prev = new Map(this.base);
  }

  private read(): SystemProgram[] {
    const out: SystemProgram[] = [];
    for (const id of programIds()) {
      const p = programInfo(id);
      if (p !== undefined) out.push(p); // unloaded since it was listed
    }
    return out;
  }

  /** One interval: each program's fields (the process is added by the caller). */
  sample(): { prog: SystemProgram; fields: GadgetRecord }[] {
    const now = process.hrtime.bigint();
    const elapsed = Number(now - this.lastNs);
    this.lastNs = now;
    const memlock = new Map<number, number>();
    const mapMemory = (id: number): number => {
      let m = memlock.get(id);
      if (m === undefined) {
        m = Math.max(0, systemMapInfo(id)?.memlock ?? 0);
        memlock.set(id, m);
      }
      return m;
    };
    const next = new Map<number, Counts>();
    const out: { prog: SystemProgram; fields: GadgetRecord }[] = [];
    for (const p of this.read()) {
      // a program loaded since the gadget started ran only while it watched
      const base = this.base.get(p.id) ?? { t: 0n, c: 0n };
      const prev = this.prev.get(p.id) ?? base;
      next.set(p.id, { t: p.runTimeNs, c: p.runCount });
      const runtime = p.runTimeNs > prev.t ? p.runTimeNs - prev.t : 0n;
      const cpu = elapsed > 0 ? Math.round((Number(runtime) / elapsed) * 100_000) / 1000 : 0;
      let mem = 0;
      for (const m of p.mapIds) mem += mapMemory(m);
      out.push({
        prog: p,
        fields: {
          "ebpf.prog_id": p.id,
          "ebpf.type": p.typeName ?? `type ${p.type}`,
          "ebpf.name": p.name,
          "ebpf.tag": p.tag,
          "ebpf.runtime_ns": runtime,
          "ebpf.run_count": p.runCount > prev.c ? p.runCount - prev.c : 0n,
          "ebpf.cumul_runtime_ns": p.runTimeNs - base.t,
          "ebpf.cumul_run_count": p.runCount - base.c,
          "ebpf.total_runtime_ns": p.runTimeNs,
          "ebpf.total_run_count": p.runCount,
          "ebpf.total_cpu": cpu,
          "ebpf.per_cpu": Math.round((cpu / this.ncpus) * 1000) / 1000,
          "ebpf.map_memory": BigInt(mem),
          "ebpf.map_count": p.mapIds.length,
        },
      });
    }
    this.prev = next; // programs that went away are forgotten
    return out;
  }
}

let probed: string | undefined | null = null;

/** Why run-time statistics or the program list cannot be had here, or undefined. */
function statsMissing(): string | undefined {
  if (probed !== null) return probed;
  try {
    BpfStats.enableRunTime().close();
    programIds();
    probed = undefined;
  } catch (e) {
    probed = `BPF run-time statistics (BPF_ENABLE_STATS) and the program list (BPF_PROG_GET_NEXT_ID) are needed: ${errorMessage(e)}`;
  }
  return probed;
}

export const TOP_EBPF: GadgetSpec = {
  category: "top",
  name: "ebpf",
  summary: "every BPF program of the node: run time and runs per interval, maps, holders",
  nodeWide: true,
  common: ["proc.pid", "proc.ppid", "proc.name", "user.uid", "group.gid", ...PLACE_COMMON],
  columns: [
    {
      name: "ebpf.prog_id",
      type: "uint32",
      desc: "The program's id (bpftool prog show id N).",
      title: "PROGID",
      width: 7,
      align: "right",
    },
    {
      name: "ebpf.type",
      type: "string",
      desc: "Program type, as libbpf names it: tracepoint, kprobe, cgroup_skb, xdp, tracing...",
      title: "TYPE",
      width: 14,
    },
    {
      name: "ebpf.name",
      type: "string",
      desc: "The program's name (up to 15 characters).",
      title: "NAME",
      width: 16,
    },
    {
      name: "ebpf.tag",
      type: "string",
      desc: "The program's tag (hash of its instructions).",
      title: "TAG",
      width: 16,
    },
    ns("ebpf.runtime_ns", "Time spent running the program in the interval, ns.", "RUNTIME"),
    count("ebpf.run_count", "Runs of the program in the interval.", "RUNCOUNT"),
    ns("ebpf.cumul_runtime_ns", "Time spent running since the gadget started, ns.", "CUMULRUNTIME", 12),
    count("ebpf.cumul_run_count", "Runs since the gadget started.", "CUMULRUNCOUNT", 13),
    ns(
      "ebpf.total_runtime_ns",
      "Time spent running since the program was loaded, while statistics were on, ns.",
      "TOTALRUNTIME",
      12,
    ),
    count(
      "ebpf.total_run_count",
      "Runs since the program was loaded, while statistics were on.",
      "TOTALRUNCOUNT",
      13,
    ),
    {
      name: "ebpf.total_cpu",
      type: "double",
      desc: "CPU used by the program in the interval, percent of one CPU.",
      title: "TOTALCPU",
      width: 8,
      align: "right",
    },
    {
      name: "ebpf.per_cpu",
      type: "double",
      desc: "CPU used by the program in the interval, percent of all CPUs.",
      title: "PERCPU",
      width: 7,
      align: "right",
    },
    count("ebpf.map_memory", "Memory of the program's maps, bytes (their memlock).", "MAPMEMORY"),
    {
      name: "ebpf.map_count",
      type: "uint32",
      desc: "Maps the program uses.",
      title: "MAPCOUNT",
      width: 8,
      align: "right",
    },
    {
      name: "ebpf.holders",
      type: "list(string)",
      desc: "Every process holding the program (a program or link fd), as pid:comm.",
      title: "HOLDERS",
      width: 30,
    },
  ],
  defaults: [
    "ebpf.prog_id",
    "ebpf.type",
    "ebpf.name",
    "proc.pid",
    "proc.name",
    "ebpf.runtime_ns",
    "ebpf.run_count",
    "ebpf.map_memory",
    "ebpf.map_count",
  ],
  defaultSort: ["-ebpf.runtime_ns", "-ebpf.run_count"],
  params: [],
  unavailable: statsMissing,
  start(ctx: GadgetContext): RunningSource {
    let stats: BpfStats;
    try {
      stats = BpfStats.enableRunTime();
    } catch (e) {
      throw new LannerError("ENOTSUP", `BPF run-time statistics are needed: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    let sampler: Sampler;
    try {
      sampler = new Sampler();
    } catch (e) {
      stats.close();
      throw new LannerError("EGADGET", `listing the node's BPF programs: ${errorMessage(e)}`, { cause: e });
    }
    // the holders: without the iterator, programs are shown without their processes
    let obj: GadgetObject | null = null;
    let link: BpfLink | null = null;
    let why = "";
    try {
      obj = GadgetObject.load({ dir: "top-ebpf", kernelFilter: ctx.kernelFilter, ringBytes: 4096 });
      link = obj.obj.program("lng_ebpf_holders").attach({ kind: "iter" });
    } catch (e) {
      obj?.close();
      obj = null;
      why = errorMessage(e).split("\n")[0] ?? "";
    }
    return {
      summary:
        link !== null
          ? "stats=BPF_ENABLE_STATS, holders=iter/task_file"
          : `stats=BPF_ENABLE_STATS, holders=unknown (iter/task_file unavailable: ${why})`,
      collect(): SourceEvent[] {
        let holders = new Map<number, Holder[]>();
        if (link !== null) {
          const r = link.readIter();
          if (r.truncated) ctx.lost(1, "holders larger than 64 MiB: some not shown");
          holders = decodeHolders(r.data);
        }
        return sampler.sample().map(({ prog, fields }) => {
          const hs = holders.get(prog.id) ?? [];
          const all = { ...fields, "ebpf.holders": hs.map((h) => `${h.header.pid}:${h.header.comm}`) };
          // the row's process: the first holder the selection keeps, else the first one
          const h = hs.find((x) => !x.dropped) ?? hs[0];
          return h === undefined ? { pid: 0, fields: all } : headerEvent(h.header, all);
        });
      },
      stop(): void {
        obj?.close();
        stats.close();
      },
    };
  },
};
