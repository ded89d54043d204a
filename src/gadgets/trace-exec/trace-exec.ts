/**
 * trace exec: every execve and execveat of the selected containers, with the process, its
 * parent, the result and the arguments as given. Built on the capture path (the same
 * records the rules see): execve/execveat records, after process state applied the exec.
 */
import type { EventContext } from "../../engine/fields/index.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetSpec, GadgetContext, RunningSource } from "../gadget.js";

const exepath = ruleValue("proc.exepath");
const cwd = ruleValue("proc.cwd");
const cmdline = ruleValue("proc.cmdline");
const upper = ruleValue("proc.is_exe_upper_layer");
const loginuid = ruleValue("user.loginuid");
const res = ruleValue("evt.res");

export const TRACE_EXEC: GadgetSpec = {
  category: "trace",
  name: "exec",
  summary: "new programs: every execve and execveat, with arguments and result",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    ruleColumn("evt.rawres", { title: "RET", width: 4, align: "right" }),
    ruleColumn("evt.res", { title: "ERROR", width: 8 }),
    {
      name: "exec.args",
      type: "string",
      desc: "The arguments as given, argv[0] first, separated by spaces (the attempted ones when the call failed).",
      title: "ARGS",
      width: 40,
    },
    ruleColumn("proc.cmdline", { title: "CMDLINE", width: 40 }),
    ruleColumn("proc.exepath", { title: "EXEPATH", width: 30, ellipsis: "start" }),
    ruleColumn("proc.cwd", { title: "CWD", width: 24, ellipsis: "start" }),
    ruleColumn("proc.is_exe_upper_layer", { title: "UPPER", width: 5 }),
    {
      name: "exec.parent_upper_layer",
      type: "bool",
      desc: "The parent's executable is in the upper layer of an overlayfs (written in the container).",
      title: "PUPPER",
      width: 6,
    },
    ruleColumn("user.loginuid", { title: "LOGINUID", width: 10, align: "right" }),
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.pid",
    "proc.ppid",
    "proc.name",
    "proc.pname",
    "evt.rawres",
    "exec.args",
  ],
  params: [
    {
      name: "paths",
      type: "boolean",
      desc: "show the working directory and the executable's full path",
      shows: ["proc.cwd", "proc.exepath"],
    },
    { name: "ignore-failed", type: "boolean", desc: "only successful execs" },
  ],
  capture: { syscalls: ["execve", "execveat"] },
  start(ctx: GadgetContext): RunningSource {
    const ignoreFailed = ctx.params["ignore-failed"] === true;
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace exec needs the capture path");
    capture.on((c: EventContext) => {
      const ev = c.sys;
      if (ev === null) return;
      const ok = ev.ret >= 0;
      if (!ok && ignoreFailed) return;
      const parent = c.proc() === undefined ? undefined : ctx.procs.lookup(c.proc()?.ppid ?? 0);
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "evt.rawres": ev.ret,
          "evt.res": res(c),
          "exec.args": ev.argv !== null ? ev.argv.join(" ") : null,
          "proc.cmdline": ok ? cmdline(c) : null,
          "proc.exepath": ok ? exepath(c) : null,
          "proc.cwd": cwd(c),
          "proc.is_exe_upper_layer": ok ? upper(c) : null,
          "exec.parent_upper_layer": parent === undefined ? null : parent.isExeUpperLayer,
          "user.loginuid": loginuid(c),
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    return { summary: "execve, execveat", stop: () => undefined };
  },
};
