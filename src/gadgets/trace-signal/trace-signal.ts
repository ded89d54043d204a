/**
 * trace signal: signals sent by the selected containers' processes: kill, tkill, tgkill,
 * rt_sigqueueinfo, rt_tgsigqueueinfo and pidfd_send_signal, with the signal, its target and
 * the result. Built on the capture path's records of those syscalls (fixed records: the
 * arguments and the result); pidfd_open records tell which process a pidfd names.
 */
import { signalName } from "../../decode/flags.js";
import { argI32 } from "../../decode/syscall-view.js";
import type { EventContext } from "../../engine/fields/index.js";
import type { ProcessInfo, ProcessTable } from "../../state/process-table.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource } from "../gadget.js";

const res = ruleValue("evt.res");

const SIGKILL = 9;
const SIGRTMIN = 32;
const SIGRTMAX = 64;

/** A signal's name: SIGKILL, SIGRTMIN+3 (the kernel's numbering), null for 0 (no signal). */
export function signalFullName(n: number): string | null {
  if (n <= 0 || n > SIGRTMAX) return null;
  if (n < SIGRTMIN) return signalName(n);
  if (n === SIGRTMIN) return "SIGRTMIN";
  if (n === SIGRTMAX) return "SIGRTMAX";
  return `SIGRTMIN+${n - SIGRTMIN}`;
}

/** --signal N|NAME (9, SIGKILL, KILL, sigkill, SIGRTMIN+2) -> its number; undefined if none. */
export function parseSignal(v: string): number | undefined {
  const s = v.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= SIGRTMAX ? n : undefined;
  }
  const up = s.toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  for (let n = 1; n <= SIGRTMAX; n++) if (signalFullName(n) === name) return n;
  return undefined;
}

/** Where each syscall keeps its target and its signal (argument indexes). */
const ARGS: Readonly<Record<string, { pid: number; tid: number | null; sig: number }>> = {
  kill: { pid: 0, tid: null, sig: 1 },
  tkill: { pid: 0, tid: 0, sig: 1 },
  tgkill: { pid: 0, tid: 1, sig: 2 },
  rt_sigqueueinfo: { pid: 0, tid: null, sig: 1 },
  rt_tgsigqueueinfo: { pid: 0, tid: 1, sig: 2 },
  pidfd_send_signal: { pid: -1, tid: null, sig: 1 },
};

/** pidfds known from pidfd_open records: "tgid:fd" -> the pid it was opened for. */
const PIDFDS_MAX = 4096;

/**
 * The host pid of the process `vpid` names in the sender's pid namespace, when the process
 * table can tell: the sender is in the host's namespace, or a process has that pid in the
 * sender's namespace (or, when a namespace is unknown, in the sender's cgroup).
 */
export function hostPidOf(procs: ProcessTable, sender: ProcessInfo | undefined, vpid: number): number | null {
  if (sender === undefined || vpid <= 0) return null;
  if (sender.vpid === sender.pid) return vpid;
  for (const p of procs.values()) {
    if (p.vpid !== vpid || p.exitedAt !== 0) continue;
    if (sender.pidns !== 0n && p.pidns !== 0n) {
      if (p.pidns === sender.pidns) return p.pid;
    } else if (sender.cgroupId !== 0n && p.cgroupId === sender.cgroupId) return p.pid;
  }
  return null;
}

function signalParam(params: ParamValues): number | undefined | string {
  const v = params["signal"];
  if (typeof v !== "string") return undefined;
  const n = parseSignal(v);
  return n === undefined
    ? `--signal: '${v}' is not a signal (a number 1-64 or a name: SIGKILL, KILL, SIGRTMIN+1)`
    : n;
}

export const TRACE_SIGNAL: GadgetSpec = {
  category: "trace",
  name: "signal",
  summary: "signals sent: kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    {
      name: "signal.num",
      type: "int32",
      desc: "The signal's number (0: no signal, the call only checks that the target exists).",
      title: "SIGNUM",
      width: 6,
      align: "right",
    },
    {
      name: "signal.name",
      type: "string",
      desc: "The signal's name (SIGKILL, SIGUSR1, SIGRTMIN+2); null for signal 0.",
      title: "SIGNAL",
      width: 10,
    },
    {
      name: "signal.tpid",
      type: "int64",
      desc: "The target as the sender named it, in its own pid namespace (kill: a pid, 0 for its process group, -1 for every process, -N for process group N; tkill: a thread id; pidfd_send_signal: the pid its pidfd was opened for, when seen).",
      title: "TPID",
      width: 7,
      align: "right",
    },
    {
      name: "signal.ttid",
      type: "int64",
      desc: "The target thread (tkill, tgkill, rt_tgsigqueueinfo), in the sender's pid namespace.",
      title: "TTID",
      width: 7,
      align: "right",
    },
    {
      name: "signal.thostpid",
      type: "int64",
      desc: "The target process's pid in the host's pid namespace (as proc.pid), when the process table can tell.",
      title: "THOSTPID",
      width: 8,
      align: "right",
    },
    {
      name: "signal.tcomm",
      type: "string",
      desc: "The target process's name, when signal.thostpid is known.",
      title: "TCOMM",
      width: 16,
    },
    ruleColumn("evt.type", { title: "SYSCALL", width: 10 }),
    ruleColumn("evt.res", { title: "ERR", width: 8 }),
    ruleColumn("evt.rawres", { title: "RET", width: 4, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.pid", "proc.name", "signal.name", "signal.tpid", "evt.res"],
  params: [
    { name: "kill-only", short: "k", type: "boolean", desc: "only SIGKILL" },
    { name: "failed-only", short: "f", type: "boolean", desc: "only signals that could not be sent" },
    { name: "signal", type: "string", desc: "only this signal: a number or a name (9, SIGKILL, KILL)" },
    {
      name: "pid",
      type: "int",
      desc: "only signals to this target (signal.tpid, or signal.thostpid: a host pid)",
    },
  ],
  capture: {
    syscalls: [
      "kill",
      "tkill",
      "tgkill",
      "rt_sigqueueinfo",
      "rt_tgsigqueueinfo",
      "pidfd_send_signal",
      "pidfd_open",
    ],
  },
  validate(params) {
    const s = signalParam(params);
    return typeof s === "string" ? s : undefined;
  },
  start(ctx: GadgetContext): RunningSource {
    const killOnly = ctx.params["kill-only"] === true;
    const failedOnly = ctx.params["failed-only"] === true;
    const sigParam = signalParam(ctx.params);
    const only = typeof sigParam === "number" ? sigParam : undefined;
    const pidParam = ctx.params["pid"];
    const target = typeof pidParam === "number" ? pidParam : undefined;
    const pidfds = new Map<string, number>();
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace signal needs the capture path");
    capture.on((c: EventContext) => {
      const ev = c.sys;
      if (ev === null) return;
      if (ev.type === "pidfd_open") {
        if (ev.ret < 0) return;
        if (pidfds.size >= PIDFDS_MAX) pidfds.delete(pidfds.keys().next().value as string);
        pidfds.set(`${ev.tgid}:${ev.ret}`, argI32(ev, 0));
        return;
      }
      const a = ARGS[ev.type];
      if (a === undefined) return;
      const sig = argI32(ev, a.sig);
      if (killOnly && sig !== SIGKILL) return;
      if (only !== undefined && sig !== only) return;
      if (failedOnly && ev.ret >= 0) return;
      const tpid = a.pid >= 0 ? argI32(ev, a.pid) : (pidfds.get(`${ev.tgid}:${argI32(ev, 0)}`) ?? null);
      const sender = ctx.procs.lookup(ev.tgid);
      const hostPid = tpid === null ? null : hostPidOf(ctx.procs, sender, tpid);
      if (target !== undefined && tpid !== target && hostPid !== target) return;
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "signal.num": sig,
          "signal.name": signalFullName(sig),
          "signal.tpid": tpid,
          "signal.ttid": a.tid === null ? null : argI32(ev, a.tid),
          "signal.thostpid": hostPid,
          "signal.tcomm": hostPid === null ? null : (ctx.procs.lookup(hostPid)?.comm ?? null),
          "evt.type": ev.type,
          "evt.res": res(c),
          "evt.rawres": ev.ret,
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    return {
      summary: "kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal",
      stop: () => undefined,
    };
  },
};
