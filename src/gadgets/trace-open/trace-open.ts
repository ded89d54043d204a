/**
 * trace open: every open, openat, openat2 and creat of the selected containers, with the
 * path (as given and made absolute), the fd or the error, the flags and the mode. Built on
 * the capture path's open records (the path is read at entry, the directory a relative path
 * is resolved against at exit). `--prefixes` is applied in the kernel (the capture's open
 * prefix filter; standalone only: inside an agent the capture is shared with the rules) and
 * checked again here on the normalised path; `--failed` here.
 */
import { OPEN_PREFIX_BYTES, OPEN_PREFIXES_MAX } from "../../capture/capture-session.js";
import { openFlags } from "../../decode/flags.js";
import { argU32 } from "../../decode/syscall-view.js";
import type { EventContext } from "../../engine/fields/index.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource } from "../gadget.js";

const fdNum = ruleValue("fd.num");
const fdName = ruleValue("fd.name");
const fdNameRaw = ruleValue("fd.nameraw");
const res = ruleValue("evt.res");
const latency = ruleValue("evt.latency");

const O_CREAT = 0o100;
const O_TMPFILE = 0o20200000;
/** creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
const CREAT_FLAGS = 0o1101;

/** The open's flags and mode (openat2: from its struct open_how; creat: implied). */
function flagsAndMode(c: EventContext): { flags: number; mode: number } | null {
  const ev = c.sys;
  if (ev === null) return null;
  switch (ev.type) {
    case "open":
      return { flags: argU32(ev, 1), mode: argU32(ev, 2) };
    case "openat":
      return { flags: argU32(ev, 2), mode: argU32(ev, 3) };
    case "openat2":
      return ev.openHow === null ? null : { flags: ev.openHow.flags, mode: ev.openHow.mode };
    case "creat":
      return { flags: CREAT_FLAGS, mode: argU32(ev, 1) };
    default:
      return null;
  }
}

/** The mode as octal text, where the open uses it (O_CREAT, O_TMPFILE). */
export function modeText(flags: number, mode: number): string | null {
  if ((flags & O_CREAT) === 0 && (flags & O_TMPFILE) !== O_TMPFILE) return null;
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}

function prefixes(params: ParamValues): readonly string[] {
  const p = params["prefixes"];
  return Array.isArray(p) ? (p as readonly string[]) : [];
}

export const TRACE_OPEN: GadgetSpec = {
  category: "trace",
  name: "open",
  summary: "files opened: every open, openat, openat2 and creat, with the path, fd or error, flags and mode",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    ruleColumn("fd.num", { title: "FD", width: 4, align: "right" }),
    ruleColumn("evt.res", { title: "ERR", width: 8 }),
    ruleColumn("evt.rawres", { title: "RET", width: 4, align: "right" }),
    ruleColumn("fd.name", { title: "PATH", width: 40, ellipsis: "start" }),
    ruleColumn("fd.nameraw", { title: "RAWPATH", width: 30, ellipsis: "start" }),
    {
      name: "open.flags",
      type: "string",
      desc: "The open flags by name, access mode first (O_RDONLY|O_CLOEXEC; creat: O_WRONLY|O_CREAT|O_TRUNC).",
      title: "FLAGS",
      width: 24,
    },
    {
      name: "open.mode",
      type: "string",
      desc: "The mode a created file gets, in octal (0644), when the open can create one (O_CREAT, O_TMPFILE).",
      title: "MODE",
      width: 5,
    },
    ruleColumn("evt.type", { title: "SYSCALL", width: 8 }),
    ruleColumn("evt.latency", { title: "LATENCY", width: 10, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.pid", "proc.name", "fd.num", "evt.res", "fd.name"],
  params: [
    { name: "failed", type: "boolean", desc: "only opens that failed" },
    {
      name: "prefixes",
      type: "list",
      desc: `only paths starting with one of these (text prefixes of the absolute path; end one with / for a directory; at most ${OPEN_PREFIXES_MAX}, ${OPEN_PREFIX_BYTES} bytes each; filtered in the kernel, in user space inside an agent)`,
    },
  ],
  capture: {
    syscalls: ["open", "openat", "openat2", "creat"],
    kernel: (params) => {
      const p = prefixes(params);
      return p.length > 0 ? { openPrefixes: p } : {};
    },
  },
  validate(params) {
    const p = prefixes(params);
    if (p.length > OPEN_PREFIXES_MAX)
      return `--prefixes: at most ${OPEN_PREFIXES_MAX} prefixes, got ${p.length}`;
    for (const x of p) {
      if (!x.startsWith("/")) return `--prefixes: '${x}' is not an absolute path`;
      if (Buffer.byteLength(x) > OPEN_PREFIX_BYTES)
        return `--prefixes: '${x}' is longer than ${OPEN_PREFIX_BYTES} bytes`;
    }
    return undefined;
  },
  start(ctx: GadgetContext): RunningSource {
    const failedOnly = ctx.params["failed"] === true;
    const pfx = prefixes(ctx.params);
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace open needs the capture path");
    capture.on((c: EventContext) => {
      const ev = c.sys;
      if (ev === null) return;
      if (failedOnly && ev.ret >= 0) return;
      const name = fdName(c);
      // the kernel passes what it cannot judge (".." in the path): the normalised path decides
      if (pfx.length > 0 && (typeof name !== "string" || !pfx.some((p) => name.startsWith(p)))) return;
      const fm = flagsAndMode(c);
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "fd.num": fdNum(c),
          "evt.res": res(c),
          "evt.rawres": ev.ret,
          "fd.name": name,
          "fd.nameraw": fdNameRaw(c),
          "open.flags": fm === null ? null : openFlags(fm.flags),
          "open.mode": fm === null ? null : modeText(fm.flags, fm.mode),
          "evt.type": ev.type,
          "evt.latency": latency(c),
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    return {
      summary:
        pfx.length > 0
          ? `open, openat, openat2, creat; ${pfx.length} prefixes ${ctx.sharedCapture ? "in user space (the agent's capture is shared)" : "in the kernel"}`
          : "open, openat, openat2, creat",
      stop: () => undefined,
    };
  },
};
