/** evt.*: what the event is, when it happened, its arguments and result. */
import { resultName } from "../../decode/errno.js";
import { argU32 } from "../../decode/syscall-view.js";
import type { FieldClass, FieldSpec } from "../../rules/index.js";
import { formatRfc3339Nano, formatTimeOfDay } from "../../rules/time-format.js";
import { argByIndex, argByName, rawArg, renderArgs, resolvedPath } from "./args.js";
import { categoryOf as syscallCategory } from "./categories.js";
import type { EventContext } from "./context.js";

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_TMPFILE = 0o20200000;
const O_TRUNC = 0o1000;
const OPEN = ["open", "openat", "openat2", "creat"];
const OPEN_SET = new Set(OPEN);
const IO_READ = new Set(["recvfrom", "recvmsg"]);
const IO_WRITE = new Set(["sendto", "sendmsg"]);
const DATA = ["sendto", "recvfrom"];
const LATENCY = ["open", "openat", "openat2", "creat", "connect", "execve", "execveat"];
const NS = 1_000_000_000n;

/** open flags of an open-family event, or null. */
function openFlags(c: EventContext): number | null {
  const ev = c.sys;
  if (ev === null || !OPEN_SET.has(ev.type)) return null;
  if (ev.type === "creat") return O_CREAT | O_WRONLY | O_TRUNC;
  if (ev.type === "openat2") return ev.openHow?.flags ?? null;
  return argU32(ev, ev.type === "open" ? 1 : 2);
}

function openMode(c: EventContext): number | null {
  const ev = c.sys;
  if (ev === null) return null;
  if (ev.type === "openat2") return ev.openHow?.mode ?? null;
  const i = ev.type === "open" ? 2 : ev.type === "openat" ? 3 : ev.type === "creat" ? 1 : -1;
  return i < 0 ? null : argU32(ev, i);
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

function dateTime(ns: bigint, frac: boolean): string {
  const sec = ns / NS;
  const d = new Date(Number(sec) * 1000);
  const s =
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return frac ? `${s}.${(ns - sec * NS).toString().padStart(9, "0")}` : s;
}

const rel = (c: EventContext): number | null => (c.startTs === 0 ? null : Math.max(0, c.ev.ts - c.startTs));
const delta = (c: EventContext): number => (c.prevTs === 0 ? 0 : Math.max(0, c.ev.ts - c.prevTs));
const latency = (c: EventContext): number | null => c.sys?.latencyNs ?? null;

function human(ns: number): string {
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)}us`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

/** The path arguments evt.abspath reads, per syscall: [abspath and .src, .dst] (libsinsp's table). */
const ABSPATH: Readonly<Record<string, readonly [number, number]>> = {
  openat: [1, 1],
  openat2: [1, 1],
  unlinkat: [1, 1],
  mkdirat: [1, 1],
  fchmodat: [1, 1],
  fchownat: [1, 1],
  symlinkat: [2, 2],
  renameat: [1, 3],
  renameat2: [1, 3],
  linkat: [1, 3],
};

function abspath(name: string, desc: string, end: 0 | 1): FieldSpec<EventContext> {
  return {
    name,
    type: "path",
    desc,
    events: Object.keys(ABSPATH),
    get: (c) => {
      const ev = c.sys;
      const args = ev === null ? undefined : ABSPATH[ev.type];
      if (ev === null || args === undefined) return null;
      const p = ev.paths.get(args[end]);
      return p === undefined || p === "" ? null : resolvedPath(ev, args[end]);
    },
  };
}

function exeOf(c: EventContext) {
  return c.proc();
}

export const EVT_FIELDS: FieldClass<EventContext> = {
  name: "evt",
  desc: "Event fields: type, time, arguments, result.",
  fields: [
    { name: "evt.num", type: "uint64", desc: "Event number.", show: true, get: (c) => c.num },
    {
      name: "evt.time",
      type: "abstime",
      desc: "Event timestamp; text output renders HH:MM:SS.nnnnnnnnn, JSON an integer (ns).",
      show: true,
      get: (c) => c.wallNs(),
    },
    {
      name: "evt.time.s",
      type: "string",
      desc: "Event timestamp as HH:MM:SS.",
      get: (c) => formatTimeOfDay(c.wallNs()).slice(0, 8),
    },
    {
      name: "evt.time.iso8601",
      type: "string",
      desc: "Event timestamp in ISO 8601 (UTC) with nanoseconds.",
      get: (c) => formatRfc3339Nano(c.wallNs()),
    },
    {
      name: "evt.datetime",
      type: "string",
      desc: "Event timestamp with the date (YYYY-MM-DD HH:MM:SS.nnnnnnnnn, UTC).",
      get: (c) => dateTime(c.wallNs(), true),
    },
    {
      name: "evt.datetime.s",
      type: "string",
      desc: "Event timestamp with the date, seconds precision.",
      get: (c) => dateTime(c.wallNs(), false),
    },
    {
      name: "evt.rawtime",
      type: "abstime",
      desc: "Absolute event timestamp, ns since the epoch.",
      get: (c) => c.wallNs(),
    },
    {
      name: "evt.rawtime.s",
      type: "uint64",
      desc: "Integer seconds part of the event timestamp.",
      get: (c) => Number(c.wallNs() / NS),
    },
    {
      name: "evt.rawtime.ns",
      type: "uint64",
      desc: "Fractional part of the event timestamp, in ns.",
      get: (c) => Number(c.wallNs() % NS),
    },
    { name: "evt.reltime", type: "reltime", desc: "Time since the start of the session, ns.", get: rel },
    {
      name: "evt.reltime.s",
      type: "uint64",
      desc: "Seconds part of evt.reltime.",
      get: (c) => {
        const r = rel(c);
        return r === null ? null : Math.floor(r / 1e9);
      },
    },
    {
      name: "evt.reltime.ns",
      type: "uint64",
      desc: "Fractional part of evt.reltime, ns.",
      get: (c) => {
        const r = rel(c);
        return r === null ? null : r % 1e9;
      },
    },
    {
      name: "evt.deltatime",
      type: "reltime",
      desc: "Time since the previous event the engine read, ns.",
      get: delta,
    },
    {
      name: "evt.deltatime.s",
      type: "uint64",
      desc: "Seconds part of evt.deltatime.",
      get: (c) => Math.floor(delta(c) / 1e9),
    },
    {
      name: "evt.deltatime.ns",
      type: "uint64",
      desc: "Fractional part of evt.deltatime, ns.",
      get: (c) => delta(c) % 1e9,
    },
    {
      name: "evt.latency",
      type: "reltime",
      desc: "Time between the syscall's entry and exit, ns (the syscalls whose entry the kernel records).",
      events: LATENCY,
      get: latency,
    },
    {
      name: "evt.latency.s",
      type: "uint64",
      desc: "Seconds part of evt.latency.",
      events: LATENCY,
      get: (c) => {
        const l = latency(c);
        return l === null ? null : Math.floor(l / 1e9);
      },
    },
    {
      name: "evt.latency.ns",
      type: "uint64",
      desc: "Fractional part of evt.latency, ns.",
      events: LATENCY,
      get: (c) => {
        const l = latency(c);
        return l === null ? null : l % 1e9;
      },
    },
    {
      name: "evt.latency.human",
      type: "string",
      desc: "evt.latency for people (12.34us).",
      events: LATENCY,
      get: (c) => {
        const l = latency(c);
        return l === null ? null : human(l);
      },
    },
    { name: "evt.source", type: "string", desc: "Event source: 'syscall'.", get: () => "syscall" },
    {
      name: "evt.hostname",
      type: "string",
      desc: "Host name of the node the agent runs on.",
      get: (c) => c.hostname,
    },
    {
      name: "evt.type",
      type: "string",
      desc: "Event type: the syscall name (open, execve, connect...), or procexec/procfork/procexit.",
      show: true,
      get: (c) => c.type,
    },
    {
      name: "evt.cpu",
      type: "int16",
      desc: "CPU on which the event happened.",
      show: true,
      get: (c) => c.ev.cpu,
    },
    {
      name: "evt.category",
      type: "string",
      desc: "Event category: file, net, ipc, memory, process, signal, system, user... (I/O events: by fd type).",
      get: (c) => syscallCategory(c.type, c.fd()?.type ?? null),
    },
    {
      name: "evt.dir",
      type: "string",
      desc: "Event direction; always '<' (exit): one record per syscall, entry data included.",
      deprecated: true,
      get: () => "<",
    },
    {
      name: "evt.args",
      type: "string",
      desc: "All arguments as text: the result first, then name=value for each.",
      get: (c) => (c.sys === null ? null : renderArgs(c.sys, exeOf(c))),
    },
    {
      name: "evt.info",
      type: "string",
      desc: "Event arguments rendered for display (as evt.args).",
      get: (c) => (c.sys === null ? null : renderArgs(c.sys, exeOf(c))),
    },
    {
      name: "evt.arg",
      type: "string",
      desc: "One argument as text, by name (evt.arg.flags, evt.arg[name]) or position (evt.arg[0]).",
      arg: "key",
      dotted: true,
      make: (arg) => {
        if (typeof arg === "number")
          return (c) => {
            const ev = c.sys;
            return ev === null ? null : argByIndex(ev, arg, exeOf(c));
          };
        const name = String(arg);
        return (c) => {
          const ev = c.ev;
          if (ev.kind === "syscall") return argByName(ev, name, exeOf(c));
          if (name === "child_pid" && ev.kind === "fork") return ev.childTgid;
          if (name === "status" && ev.kind === "exit") return ev.exitCode;
          return null;
        };
      },
    },
    {
      name: "evt.rawarg",
      type: "int64",
      desc: "One numeric argument, unformatted (evt.rawarg.res, evt.rawarg.flags).",
      arg: "key",
      dotted: true,
      make: (arg) => (c) => (c.sys === null || arg === undefined ? null : rawArg(c.sys, arg)),
    },
    {
      name: "evt.res",
      type: "string",
      desc: "Syscall result as text: 'SUCCESS' or the errno name (ENOENT...).",
      show: true,
      get: (c) => (c.sys === null ? null : resultName(c.sys.ret)),
    },
    {
      name: "evt.rawres",
      type: "int64",
      desc: "Syscall return value as a number.",
      show: true,
      get: (c) => c.sys?.ret ?? null,
    },
    {
      name: "evt.failed",
      type: "bool",
      desc: "True if the syscall returned an error.",
      show: true,
      get: (c) => (c.sys === null ? false : c.sys.ret < 0 && c.sys.ret >= -4095),
    },
    {
      name: "evt.buffer",
      type: "bytebuf",
      desc: "Data of sendto/recvfrom: the first capture.snaplen bytes (Falco's snaplen).",
      events: DATA,
      get: (c) => c.sys?.data ?? null,
    },
    {
      name: "evt.buflen",
      type: "uint64",
      desc: "Bytes sent or received by sendto/recvfrom.",
      events: DATA,
      get: (c) => (c.sys !== null && DATA.includes(c.type) && c.sys.ret >= 0 ? c.sys.ret : null),
    },
    {
      name: "evt.is_io",
      type: "bool",
      desc: "True for events that read or write data (sendto, sendmsg, recvfrom, recvmsg).",
      get: (c) => IO_READ.has(c.type) || IO_WRITE.has(c.type),
    },
    {
      name: "evt.is_io_read",
      type: "bool",
      desc: "True for events that read data (recvfrom, recvmsg).",
      get: (c) => IO_READ.has(c.type),
    },
    {
      name: "evt.is_io_write",
      type: "bool",
      desc: "True for events that write data (sendto, sendmsg).",
      get: (c) => IO_WRITE.has(c.type),
    },
    {
      name: "evt.is_syslog",
      type: "bool",
      desc: "True for data sent to /dev/log.",
      get: (c) => IO_WRITE.has(c.type) && c.fd()?.name === "/dev/log",
    },
    { name: "evt.count", type: "uint32", desc: "Always 1 (for counting).", get: () => 1 },
    {
      name: "evt.is_open_read",
      type: "bool",
      desc: "True for open/openat/openat2/creat opening for reading.",
      events: OPEN,
      get: (c) => {
        const f = openFlags(c);
        return f !== null && ((f & O_ACCMODE) === 0 || (f & O_ACCMODE) === O_RDWR);
      },
    },
    {
      name: "evt.is_open_write",
      type: "bool",
      desc: "True for open/openat/openat2/creat opening for writing.",
      events: OPEN,
      get: (c) => {
        const f = openFlags(c);
        return f !== null && ((f & O_ACCMODE) === O_WRONLY || (f & O_ACCMODE) === O_RDWR);
      },
    },
    {
      name: "evt.is_open_exec",
      type: "bool",
      desc: "True for opens that create a file (O_CREAT, O_TMPFILE) with an execute permission bit.",
      events: OPEN,
      get: (c) => {
        const f = openFlags(c);
        if (f === null || ((f & O_CREAT) === 0 && (f & O_TMPFILE) !== O_TMPFILE)) return false;
        const m = openMode(c);
        return m !== null && (m & 0o111) !== 0;
      },
    },
    {
      name: "evt.is_open_create",
      type: "bool",
      desc: "True for opens with O_CREAT (or O_TMPFILE).",
      events: OPEN,
      get: (c) => {
        const f = openFlags(c);
        return f !== null && ((f & O_CREAT) !== 0 || (f & O_TMPFILE) === O_TMPFILE);
      },
    },
    abspath(
      "evt.abspath",
      "Absolute path of the path argument of *at syscalls (dirfd resolved); of renameat/linkat, the old path.",
      0,
    ),
    abspath(
      "evt.abspath.src",
      "Absolute source path of *at syscalls: renameat/linkat's old path (as evt.abspath).",
      0,
    ),
    abspath("evt.abspath.dst", "Absolute destination path of *at syscalls: renameat/linkat's new path.", 1),
  ],
};
