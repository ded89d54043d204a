/**
 * top process: CPU and memory per process over each interval (or per container with
 * --containers), read from the cgroup v2 hierarchy and /proc/PID/stat (proc-sampler.ts).
 * The selection's cgroup verdicts (the same the kernel-side gadgets receive) decide which
 * cgroups are read at all, so a pod selection on a busy node reads only the pod's processes.
 */
import { clockOffsets } from "../../native/index.js";
import { HOST_CONTAINER } from "../../state/containers/container-info.js";
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource, SourceEvent } from "../gadget.js";
import { ProcSampler, type ProcSample } from "./proc-sampler.js";

const bootNowNs = (): number => Number(clockOffsets().boottimeNs);

function processRow(s: ProcSample, ts: number): SourceEvent {
  return {
    pid: s.pid,
    ...(s.cgroupId !== undefined ? { cgroupId: s.cgroupId } : {}),
    ts,
    fields: {
      "proc.name": s.comm,
      "proc.ppid": s.ppid,
      "process.cpu": s.cpu,
      "proc.vmrss": s.rssKiB,
      "proc.vmsize": s.vmsizeKiB,
      "proc.nthreads": s.threads,
      "process.state": s.state,
      "process.count": 1,
    },
  };
}

interface Group {
  cgroupId: bigint | undefined;
  pid: number;
  cpu: number | null;
  rss: number;
  vmsize: number;
  threads: number;
  count: number;
}

/** --containers: one row per container (and one for the host), its processes summed. */
function containerRows(ctx: GadgetContext, samples: readonly ProcSample[], ts: number): SourceEvent[] {
  const groups = new Map<string, Group>();
  for (const s of samples) {
    const c = ctx.services.container(s.pid, s.cgroupId);
    // not known yet: kept apart (the selection decides on it like on any unknown container)
    const key = c === undefined ? `cg:${s.cgroupId ?? s.pid}` : c === HOST_CONTAINER ? "host" : c.fullId;
    let g = groups.get(key);
    if (g === undefined) {
      g = { cgroupId: s.cgroupId, pid: s.pid, cpu: null, rss: 0, vmsize: 0, threads: 0, count: 0 };
      groups.set(key, g);
    }
    if (s.cpu !== null) g.cpu = (g.cpu ?? 0) + s.cpu;
    g.rss += s.rssKiB;
    g.vmsize += s.vmsizeKiB;
    g.threads += s.threads;
    g.count++;
  }
  const rows: SourceEvent[] = [];
  for (const g of groups.values()) {
    rows.push({
      // no process: the row is placed by its cgroup (or, without cgroup v2, by one of its pids)
      pid: g.cgroupId === undefined ? g.pid : 0,
      ...(g.cgroupId !== undefined ? { cgroupId: g.cgroupId } : {}),
      ts,
      fields: {
        "process.cpu": g.cpu === null ? null : Math.round(g.cpu * 100) / 100,
        "proc.vmrss": g.rss,
        "proc.vmsize": g.vmsize,
        "proc.nthreads": g.threads,
        "process.count": g.count,
        ...(g.cgroupId === undefined ? { "proc.name": null, "proc.ppid": null } : {}),
      },
    });
  }
  return rows;
}

function start(ctx: GadgetContext): RunningSource {
  const perContainer = ctx.params["containers"] === true;
  const sampler = new ProcSampler();
  // the cgroups the selection drops (learnt as rows are decided): their processes are not read
  const dropped = new Set<bigint>();
  const off = ctx.kernelFilter.active
    ? ctx.kernelFilter.onVerdict((cg, pass) => {
        if (pass === false) dropped.add(cg);
        else dropped.delete(cg);
      })
    : () => undefined;
  const isDropped = (cg: bigint): boolean => dropped.has(cg);
  // the baseline: the first interval's CPU is measured from here
  const first = sampler.scan(isDropped, bootNowNs);
  return {
    summary: `processes=${first.samples.length}, cgroups=${first.cgroups}, per=${perContainer ? "container" : "process"}`,
    collect(): SourceEvent[] {
      const r = sampler.scan(isDropped, bootNowNs);
      if (perContainer) return containerRows(ctx, r.samples, r.bootNs);
      return r.samples.map((s) => processRow(s, r.bootNs));
    },
    stop: () => off(),
  };
}

export const TOP_PROCESS: GadgetSpec = {
  category: "top",
  name: "process",
  summary: "CPU and memory per process (or per container) over each interval",
  common: ["evt.time", "proc.pid", "proc.ppid", "proc.name", ...PLACE_COMMON],
  columns: [
    {
      name: "process.cpu",
      type: "double",
      desc: "CPU used over the interval (user + system, every thread), percent of one CPU: 100 is one CPU busy the whole interval (several busy threads exceed it). Unknown for a process first seen this interval that started before the previous one.",
      title: "CPU%",
      width: 6,
      align: "right",
      sum: true,
    },
    ruleColumn("proc.vmrss", { title: "RSS", width: 9, align: "right" }),
    ruleColumn("proc.vmsize", { title: "VSZ", width: 10, align: "right" }),
    ruleColumn("proc.nthreads", { title: "THREADS", width: 7, align: "right" }),
    {
      name: "process.state",
      type: "string",
      desc: "Scheduler state when read (/proc/PID/stat): R running, S sleeping, D uninterruptible, Z zombie, T stopped, I idle kernel thread...",
      title: "S",
      width: 1,
      minWidth: 1,
    },
    {
      name: "process.count",
      type: "uint64",
      desc: "Processes the row sums: 1, or with --containers the container's processes.",
      title: "PROCS",
      width: 5,
      align: "right",
      sum: true,
    },
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.pid",
    "proc.ppid",
    "proc.name",
    "process.cpu",
    "proc.vmrss",
    "proc.vmsize",
    "proc.nthreads",
    "process.state",
  ],
  params: [
    {
      name: "containers",
      type: "boolean",
      desc: "one row per container (its processes summed; the host's processes as one row with --host)",
      shows: ["process.count"],
    },
  ],
  defaultSort: ["-process.cpu", "-proc.vmrss"],
  start,
};
