/**
 * trace oomkill: every process the OOM killer kills, with the task whose allocation failed
 * (the trigger: proc.pid, proc.name...) and the killed one (oomkill.kpid, oomkill.kcomm).
 * The selection applies to the killed process's container: a pod's OOM kills are shown even
 * when another pod's allocation triggered them.
 */
import { readFileSync } from "node:fs";
import { tracefsRoot, tracepointExists } from "../../capture/features.js";
import { errorMessage } from "../../errors.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource } from "../gadget.js";
import { cString, GadgetObject, hasTpBtf, headerEvent, readHeader } from "../kernel-object.js";
import { LNG_OOM_KILL, LNG_OOM_PAGES } from "./layout.generated.js";

/** oomkill.pages_from, by enum lng_oom_pages. */
const PAGES_FROM: Readonly<Record<number, string>> = {
  [LNG_OOM_PAGES.LNG_OOM_PAGES_EXACT]: "oom_control",
  [LNG_OOM_PAGES.LNG_OOM_PAGES_MEMCG]: "memcg_limit",
  [LNG_OOM_PAGES.LNG_OOM_PAGES_NODE]: "node",
};

/** The kernel's page size (the mappings of this process say it), 4096 if unreadable. */
export function kernelPageSize(smaps = "/proc/self/smaps"): number {
  try {
    const m = /^KernelPageSize:\s+(\d+) kB/m.exec(readFileSync(smaps, "utf8"));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not readable: the common size
  }
  return 4096;
}

/** The pages a node-wide OOM chooses from: RAM and swap (MemTotal + SwapTotal), or null. */
export function nodePages(meminfo: string, pageSize: number): number | null {
  const kb = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(meminfo);
    return m === null ? null : Number(m[1]);
  };
  const ram = kb("MemTotal");
  if (ram === null) return null;
  return Math.floor(((ram + (kb("SwapTotal") ?? 0)) * 1024) / pageSize);
}

export const TRACE_OOMKILL: GadgetSpec = {
  category: "trace",
  name: "oomkill",
  summary: "processes the OOM killer kills, with the task that ran out of memory",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    {
      name: "oomkill.kpid",
      type: "int64",
      desc: "The killed process's pid (host pid namespace); the container columns are its container's.",
      title: "KPID",
      width: 7,
      align: "right",
    },
    {
      name: "oomkill.kcomm",
      type: "string",
      desc: "The killed process's name.",
      title: "KCOMM",
      width: 16,
    },
    {
      name: "oomkill.kuid",
      type: "int64",
      desc: "The killed process's real uid (host user namespace).",
      title: "KUID",
      width: 6,
      align: "right",
    },
    {
      name: "oomkill.pages",
      type: "uint64",
      desc: "Pages the OOM killer chose from (Inspektor Gadget's and BCC's pages): the limit of the memory cgroup that ran out, or the node's RAM and swap; oomkill.pages_from says how it was found.",
      title: "PAGES",
      width: 9,
      align: "right",
    },
    {
      name: "oomkill.pages_from",
      type: "string",
      desc: "Where oomkill.pages comes from: oom_control (the killer's own count, read by a function probe), memcg_limit (the limit of the killed process's nearest memory cgroup at its limit) or node (no memory cgroup at its limit: RAM and swap).",
      title: "FROM",
      width: 11,
    },
    {
      name: "oomkill.rss",
      type: "uint64",
      desc: "Resident pages of the killed process when it was chosen (anonymous, file and shared memory, as the kernel's OOM report counts them).",
      title: "RSS",
      width: 9,
      align: "right",
    },
  ],
  defaults: [...PLACE_DEFAULTS, "oomkill.kpid", "oomkill.kcomm", "oomkill.pages", "proc.pid", "proc.name"],
  params: [],
  unavailable(): string | undefined {
    if (tracefsRoot() !== null && !tracepointExists("oom", "mark_victim"))
      return "this kernel has no tracepoint oom:mark_victim";
    return undefined;
  },
  start(ctx: GadgetContext): RunningSource {
    const pageSize = kernelPageSize();
    const L = LNG_OOM_KILL;
    const onRecord = (buf: Buffer, off: number, len: number): void => {
      if (len < L.SIZEOF) return;
      const h = readHeader(buf, off);
      const how = buf.readUInt32LE(off + L.PAGES_HOW);
      let pages: number | null = Number(buf.readBigUInt64LE(off + L.PAGES));
      if (how === LNG_OOM_PAGES.LNG_OOM_PAGES_NODE) {
        try {
          pages = nodePages(readFileSync("/proc/meminfo", "utf8"), pageSize);
        } catch {
          pages = null;
        }
      }
      const ev = headerEvent(h, {
        "proc.pname": cString(buf, off + L.PCOMM, 16),
        "oomkill.kpid": buf.readUInt32LE(off + L.KPID),
        "oomkill.kcomm": cString(buf, off + L.KCOMM, 16),
        "oomkill.kuid": buf.readUInt32LE(off + L.KUID),
        "oomkill.pages": pages,
        "oomkill.pages_from": PAGES_FROM[how] ?? null,
        "oomkill.rss": Number(buf.readBigUInt64LE(off + L.RSS)),
      });
      // the selection and the container columns are the killed process's
      ctx.emit({ ...ev, cgroupId: buf.readBigUInt64LE(off + L.KCGROUP_ID) });
    };
    const btf = hasTpBtf();
    const victim = btf ? "lng_mark_victim_btf" : "lng_mark_victim_raw";
    const base = {
      dir: "trace-oomkill",
      kernelFilter: ctx.kernelFilter,
      ringBytes: 256 << 10,
      onRecord,
    };
    // the exact page count needs a function probe; this kernel may refuse them
    let obj: GadgetObject | null = null;
    let pagesVia: string;
    try {
      obj = GadgetObject.load({ ...base, programs: (n) => n === victim || n === "lng_oom_enter" });
      obj.attach("oom_kill_process", [{ program: "lng_oom_enter", how: "fentry" }]);
      pagesVia = "pages via fentry oom_kill_process";
    } catch (e) {
      obj?.close();
      const msg = errorMessage(e);
      pagesVia = `pages via memory cgroup limits (fentry on oom_kill_process refused: ${/\b(E[A-Z]{2,})\b/.exec(msg)?.[1] ?? msg.split("\n")[0] ?? ""})`;
      obj = GadgetObject.load({ ...base, programs: (n) => n === victim });
    }
    const o = obj;
    try {
      o.attach("oom/mark_victim", [{ program: victim, how: btf ? "tp_btf" : "raw_tracepoint" }]);
    } catch (e) {
      o.close();
      throw e;
    }
    return {
      summary: `oom/mark_victim via ${o.attached.find((a) => a.target === "oom/mark_victim")?.how ?? "?"}, ${pagesVia}`,
      lost: () => o.lost(),
      drain: () => o.drain(),
      stop: () => o.close(),
    };
  },
};
