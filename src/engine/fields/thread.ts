/** thread.*: the thread (task) that made the syscall. */
import type { FieldClass } from "../../rules/index.js";
import { capabilityNames } from "../../state/capabilities.js";
import { USER_HZ } from "../../state/proc-live.js";
import type { EventContext } from "./context.js";
import { statNumber } from "./proc.js";

/** cgroups of the event's process, `subsys=path` per hierarchy (cgroup v2: the unified path). */
function cgroups(c: EventContext): [string, string][] | null {
  const p = c.proc();
  return p === undefined || p.exitedAt !== 0 ? null : c.services.live.cgroups(p.pid);
}

export const THREAD_FIELDS: FieldClass<EventContext> = {
  name: "thread",
  desc: "The thread that generated the event.",
  fields: [
    {
      name: "thread.tid",
      type: "int64",
      desc: "Thread id (host pid namespace).",
      show: true,
      get: (c) => c.ev.tid,
    },
    {
      name: "thread.vtid",
      type: "int64",
      desc: "Thread id as seen in its pid namespace.",
      // the thread table names the event's own thread (a fork record's vtid is the child's)
      get: (c) => c.thread()?.vtid ?? (c.ev.kind === "exec" || c.ev.kind === "exit" ? c.ev.vtid : null),
    },
    {
      name: "thread.ismain",
      type: "bool",
      desc: "True if the thread is the main thread of its process.",
      get: (c) => c.ev.tid === c.ev.tgid,
    },
    {
      name: "thread.nametid",
      type: "string",
      desc: "Process name and thread id: name:tid.",
      get: (c) => {
        const p = c.proc();
        return p === undefined ? null : `${p.comm}:${c.ev.tid}`;
      },
    },
    {
      name: "thread.totexectime",
      type: "reltime",
      desc: "CPU time the thread used so far (user and system), ns (read from /proc when asked).",
      get: (c) => {
        const p = c.proc();
        if (p === undefined || p.exitedAt !== 0) return null;
        const st = c.services.live.stat(p.pid, c.ev.tid);
        const u = statNumber(st, 14);
        const s = statNumber(st, 15);
        return u === null || s === null ? null : ((u + s) * 1e9) / USER_HZ;
      },
    },
    {
      name: "thread.cgroups",
      type: "string",
      desc: "Every cgroup of the thread: subsys=path separated by spaces (read from /proc when asked).",
      get: (c) => {
        const cg = cgroups(c);
        return cg === null ? null : cg.map(([s, path]) => `${s === "" ? "unified" : s}=${path}`).join(" ");
      },
    },
    {
      name: "thread.cgroup",
      type: "string",
      desc: "The cgroup path for one subsystem: thread.cgroup[cpuacct] (cgroup v2: thread.cgroup[unified]).",
      arg: "key",
      dotted: true,
      make: (arg) => {
        const want = String(arg);
        return (c) => {
          const cg = cgroups(c);
          if (cg === null) return null;
          for (const [subs, path] of cg) {
            if (subs === "" ? want === "unified" : subs.split(",").includes(want)) return path;
          }
          return null;
        };
      },
    },
    {
      name: "thread.cap_permitted",
      type: "string",
      desc: "Permitted capabilities, e.g. CAP_CHOWN CAP_SYS_ADMIN.",
      get: (c) => {
        const t = c.thread();
        return t === undefined ? null : capabilityNames(t.capPermitted);
      },
    },
    {
      name: "thread.cap_effective",
      type: "string",
      desc: "Effective capabilities.",
      get: (c) => {
        const t = c.thread();
        return t === undefined ? null : capabilityNames(t.capEffective);
      },
    },
  ],
};
