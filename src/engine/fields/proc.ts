/** proc.*: the process behind the event, its parent, ancestors, session and process group. */
import type { FieldClass, FieldSpec, FieldValue } from "../../rules/index.js";
import type { ProcessInfo } from "../../state/process-table.js";
import type { EventContext } from "./context.js";
import { HOST } from "./host.js";

type P = ProcessInfo;
type Spec = FieldSpec<EventContext>;

/** Shells for proc.loginshellid (libsinsp's list). */
const SHELLS = new Set(["sh", "bash", "csh", "ksh", "tcsh", "zsh", "dash", "fish", "ash"]);

export function cmdline(p: P): string {
  return p.cmdline;
}

function args(p: P): string {
  return p.args;
}

/** NAME=value of the environment, or the whole environment separated by spaces. */
function env(p: P, name: string | number | undefined): string | null {
  if (name === undefined) return p.env.join(" ");
  const prefix = `${name}=`;
  for (const e of p.env) if (e.startsWith(prefix)) return e.slice(prefix.length);
  return null;
}

/** A field of the process itself. */
function own(
  name: string,
  type: Spec["type"],
  desc: string,
  get: (p: P, c: EventContext) => FieldValue,
  show = false,
): Spec {
  return {
    name,
    type,
    desc,
    show,
    get: (c) => {
      const p = c.proc();
      return p === undefined ? null : get(p, c);
    },
  };
}

/** A field of the parent. */
function parent(name: string, type: Spec["type"], desc: string, get: (p: P) => FieldValue): Spec {
  return {
    name,
    type,
    desc,
    get: (c) => {
      const p = c.ancestor(1);
      return p === undefined ? null : get(p);
    },
  };
}

/** proc.aX[N] (N = 0 is the process, 1 its parent...); without N, every ancestor. */
function ancestors(name: string, type: Spec["type"], desc: string, get: (p: P) => string | number): Spec {
  return {
    name,
    type,
    desc: `${desc} proc.${name.slice(6)}[N]: the Nth ancestor (0 is the process, 1 its parent); without N, any ancestor (rendered as all of them, separated by spaces).`,
    arg: "optional",
    multi: (arg) => (arg === undefined ? "any" : undefined),
    make: (arg) => {
      if (arg === undefined) return (c) => c.ancestorValues((p) => String(get(p)));
      const n = Number(arg);
      if (!Number.isInteger(n)) return () => null;
      return (c) => {
        const p = c.ancestor(n);
        return p === undefined ? null : get(p);
      };
    },
  };
}

/** The leader of the session or process group `pid` (host pid namespace). */
function leader(c: EventContext, pid: number): P | undefined {
  return pid > 0 ? c.process(pid) : undefined;
}

function exeInoCtime(p: P): bigint | null {
  return p.exeCtimeNs === 0n ? null : p.exeCtimeNs;
}

function startWall(c: EventContext, p: P | undefined): bigint | null {
  return p === undefined || p.startNs === 0n ? null : p.startNs + c.bootToWallNs;
}

function live(c: EventContext, f: (pid: number) => number | null): FieldValue {
  const p = c.proc();
  return p === undefined || p.exitedAt !== 0 ? null : f(p.pid);
}

/** Field `i` of /proc/PID/stat as a number. */
export function statNumber(fields: string[] | null, i: number): number | null {
  const v = fields?.[i];
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

function stdio(fd: number, what: "type" | "name"): Spec {
  const n = ["stdin", "stdout", "stderr"][fd] as string;
  return own(
    `proc.${n}.${what}`,
    "string",
    what === "type" ? `Type of fd ${fd} (file, pipe, ipv4...).` : `Name of fd ${fd}.`,
    (p) => {
      const e = p.fds.get(fd);
      return e === undefined ? null : what === "type" ? e.type : e.name || null;
    },
  );
}

export const PROC_FIELDS: FieldClass<EventContext> = {
  name: "proc",
  desc: "The process that generated the event, its parent and ancestors.",
  fields: [
    {
      name: "proc.pid",
      type: "int64",
      desc: "Process id (host pid namespace).",
      show: true,
      get: (c) => c.ev.tgid,
    },
    own("proc.exe", "string", "First command-line argument (argv[0]) as given.", (p) => p.argv[0] ?? null),
    own("proc.name", "string", "Process name (the task's comm, up to 15 characters).", (p) => p.comm, true),
    own("proc.args", "string", "Command-line arguments, without argv[0], separated by spaces.", args),
    {
      name: "proc.env",
      type: "string",
      desc: "Environment at exec: every VAR=value separated by spaces, or one variable's value with proc.env[NAME].",
      arg: "optional",
      make: (arg) => (c) => {
        const p = c.proc();
        return p === undefined ? null : env(p, arg);
      },
    },
    own("proc.cmdline", "string", "Full command line: proc.name followed by the arguments.", cmdline, true),
    own("proc.cmdnargs", "uint64", "Number of command-line arguments (argv[0] excluded).", (p) =>
      Math.max(0, p.argv.length - 1),
    ),
    own("proc.cmdlenargs", "uint64", "Total length of the command-line arguments (argv[0] excluded).", (p) =>
      p.argv.slice(1).reduce((n, a) => n + a.length, 0),
    ),
    own("proc.exeline", "string", "Full command line with proc.exe as the first word.", (p) => {
      const a = args(p);
      return a === "" ? (p.argv[0] ?? "") : `${p.argv[0] ?? ""} ${a}`;
    }),
    own("proc.cwd", "path", "Current working directory.", (p) => p.cwd || null, true),
    own("proc.nthreads", "uint64", "Number of threads of the process.", (p) => p.nthreads),
    own("proc.nchilds", "uint64", "Number of threads besides the main one.", (p) =>
      Math.max(0, p.nthreads - 1),
    ),
    own("proc.ppid", "int64", "Parent process id.", (p) => p.ppid, true),
    parent("proc.pname", "string", "Parent process name.", (p) => p.comm),
    parent("proc.pcmdline", "string", "Parent command line.", cmdline),
    parent("proc.pexe", "string", "Parent argv[0].", (p) => p.argv[0] ?? null),
    parent("proc.pexepath", "path", "Parent executable path.", (p) => p.exepath || null),
    ancestors("proc.apid", "int64", "Ancestor pid.", (p) => p.pid),
    ancestors("proc.aname", "string", "Ancestor name.", (p) => p.comm),
    ancestors("proc.aexe", "string", "Ancestor argv[0].", (p) => p.argv[0] ?? ""),
    ancestors("proc.aexepath", "path", "Ancestor executable path.", (p) => p.exepath),
    ancestors("proc.acmdline", "string", "Ancestor command line.", cmdline),
    {
      name: "proc.loginshellid",
      type: "int64",
      desc: "Pid of the oldest shell (sh, bash, zsh...) among the process and its ancestors.",
      get: (c) => {
        let id: number | null = null;
        for (let i = 0; i <= 32; i++) {
          const p = c.ancestor(i);
          if (p === undefined) break;
          if (SHELLS.has(p.comm)) id = p.pid;
        }
        return id;
      },
    },
    own("proc.duration", "reltime", "Time since the process started, ns.", (p, c) =>
      p.startNs === 0n ? null : Math.max(0, c.ev.ts - Number(p.startNs)),
    ),
    {
      name: "proc.ppid.duration",
      type: "reltime",
      desc: "Time since the parent process started, ns.",
      get: (c) => {
        const p = c.ancestor(1);
        return p === undefined || p.startNs === 0n ? null : Math.max(0, c.ev.ts - Number(p.startNs));
      },
    },
    {
      name: "proc.pid.ts",
      type: "abstime",
      desc: "Start time of the process, ns since the epoch.",
      get: (c) => startWall(c, c.proc()),
    },
    {
      name: "proc.ppid.ts",
      type: "abstime",
      desc: "Start time of the parent process, ns since the epoch.",
      get: (c) => startWall(c, c.ancestor(1)),
    },
    own("proc.exepath", "path", "Full executable path (resolved at exec).", (p) => p.exepath || null, true),
    own(
      "proc.is_exe_writable",
      "bool",
      "True if the executable is writable by the process's user (EXE_WRITABLE).",
      (p) => p.isExeWritable,
    ),
    {
      ...own(
        "proc.is_exe_upper_layer",
        "bool",
        "True if the executable is in the upper layer of an overlayfs (written in the container).",
        (p) => p.isExeUpperLayer,
      ),
      unavailable: () => HOST.overlayLayers(),
    },
    {
      ...own(
        "proc.is_exe_lower_layer",
        "bool",
        "True if the executable is in a lower layer of an overlayfs (from the image).",
        (p) => p.isExeLowerLayer,
      ),
      unavailable: () => HOST.overlayLayers(),
    },
    own(
      "proc.is_exe_from_memfd",
      "bool",
      "True if the executable is a memfd (fileless execution).",
      (p) => p.isExeFromMemfd,
    ),
    own("proc.exe_ino", "int64", "Inode number of the executable.", (p) =>
      p.exeIno === 0 ? null : p.exeIno,
    ),
    own(
      "proc.exe_ino.ctime",
      "abstime",
      "Change time of the executable's inode, ns since the epoch.",
      exeInoCtime,
    ),
    own(
      "proc.exe_ino.mtime",
      "abstime",
      "Modification time of the executable's inode, ns since the epoch.",
      (p) => (p.exeMtimeNs === 0n ? null : p.exeMtimeNs),
    ),
    own(
      "proc.exe_ino.ctime_duration_proc_start",
      "reltime",
      "Process start minus the executable's ctime, ns (small: the binary was just written).",
      (p, c) => {
        const ct = exeInoCtime(p);
        const st = startWall(c, p);
        return ct === null || st === null ? null : Number(st - ct);
      },
    ),
    own(
      "proc.exe_ino.ctime_duration_pidns_start",
      "reltime",
      "The executable's ctime minus the start of the process's pid namespace (its init), ns; unknown when the executable changed before the namespace started.",
      (p, c) => {
        const ct = exeInoCtime(p);
        if (ct === null || p.pidnsInitStartNs === 0n) return null;
        const d = ct - (p.pidnsInitStartNs + c.bootToWallNs);
        return d > 0n ? Number(d) : null;
      },
    ),
    own(
      "proc.pidns_init_start_ts",
      "abstime",
      "Start time of the init process of the process's pid namespace, ns since the epoch.",
      (p, c) => (p.pidnsInitStartNs === 0n ? null : p.pidnsInitStartNs + c.bootToWallNs),
    ),
    own("proc.vpid", "int64", "Process id as seen in its pid namespace.", (p) => p.vpid, true),
    parent("proc.pvpid", "int64", "Parent process id as seen in its pid namespace.", (p) => p.vpid),
    own("proc.sid", "int64", "Session id (host pid namespace).", (p) => p.sid),
    own("proc.sname", "string", "Name of the session leader.", (p, c) => leader(c, p.sid)?.comm ?? null),
    own(
      "proc.sid.exe",
      "string",
      "argv[0] of the session leader.",
      (p, c) => leader(c, p.sid)?.argv[0] ?? null,
    ),
    own(
      "proc.sid.exepath",
      "path",
      "Executable path of the session leader.",
      (p, c) => leader(c, p.sid)?.exepath || null,
    ),
    own("proc.vpgid", "int64", "Process group id as seen in the process's pid namespace.", (p) => p.vpgid),
    own(
      "proc.vpgid.name",
      "string",
      "Name of the process group leader.",
      (p, c) => leader(c, p.pgid)?.comm ?? null,
    ),
    own(
      "proc.vpgid.exe",
      "string",
      "argv[0] of the process group leader.",
      (p, c) => leader(c, p.pgid)?.argv[0] ?? null,
    ),
    own(
      "proc.vpgid.exepath",
      "path",
      "Executable path of the process group leader.",
      (p, c) => leader(c, p.pgid)?.exepath || null,
    ),
    own("proc.pgid", "int64", "Process group id (host pid namespace).", (p) =>
      p.pgid === 0 ? null : p.pgid,
    ),
    own(
      "proc.pgid.name",
      "string",
      "Name of the process group leader (host pid namespace).",
      (p, c) => leader(c, p.pgid)?.comm ?? null,
    ),
    own(
      "proc.pgid.exe",
      "string",
      "argv[0] of the process group leader (host pid namespace).",
      (p, c) => leader(c, p.pgid)?.argv[0] ?? null,
    ),
    own(
      "proc.pgid.exepath",
      "path",
      "Executable path of the process group leader (host pid namespace).",
      (p, c) => leader(c, p.pgid)?.exepath || null,
    ),
    own("proc.is_sid_leader", "bool", "True if the process is its session's leader.", (p) => p.sid === p.pid),
    own(
      "proc.is_vpgid_leader",
      "bool",
      "True if the process leads its process group (pid namespace view).",
      (p) => p.vpgid !== 0 && p.vpgid === p.vpid,
    ),
    own(
      "proc.is_pgid_leader",
      "bool",
      "True if the process leads its process group.",
      (p) => p.pgid !== 0 && p.pgid === p.pid,
    ),
    own("proc.tty", "int32", "Controlling terminal, major << 20 | minor; 0 when none.", (p) => p.tty, true),
    own("proc.fdopencount", "uint64", "Number of open file descriptors.", (p) => p.fds.size),
    {
      name: "proc.fdlimit",
      type: "int64",
      desc: "Maximum number of open file descriptors (soft limit; -1 unlimited; read from /proc when asked).",
      get: (c) => live(c, (pid) => c.services.live.limit(pid, "Max open files")),
    },
    {
      name: "proc.fdusage",
      type: "double",
      desc: "Open file descriptors as a percentage of the limit.",
      get: (c) => {
        const p = c.proc();
        const lim = live(c, (pid) => c.services.live.limit(pid, "Max open files"));
        return p === undefined || typeof lim !== "number" || lim <= 0 ? null : (p.fds.size * 100) / lim;
      },
    },
    {
      name: "proc.vmsize",
      type: "uint64",
      desc: "Virtual memory size, KiB (read from /proc when asked).",
      get: (c) => live(c, (pid) => c.services.live.status(pid, "VmSize")),
    },
    {
      name: "proc.vmrss",
      type: "uint64",
      desc: "Resident memory, KiB (read from /proc when asked).",
      get: (c) => live(c, (pid) => c.services.live.status(pid, "VmRSS")),
    },
    {
      name: "proc.vmswap",
      type: "uint64",
      desc: "Swapped memory, KiB (read from /proc when asked).",
      get: (c) => live(c, (pid) => c.services.live.status(pid, "VmSwap")),
    },
    {
      name: "proc.pfmajor",
      type: "uint64",
      desc: "Major page faults (read from /proc when asked).",
      get: (c) => live(c, (pid) => statNumber(c.services.live.stat(pid), 12)),
    },
    {
      name: "proc.pfminor",
      type: "uint64",
      desc: "Minor page faults (read from /proc when asked).",
      get: (c) => live(c, (pid) => statNumber(c.services.live.stat(pid), 10)),
    },
    stdio(0, "type"),
    stdio(0, "name"),
    stdio(1, "type"),
    stdio(1, "name"),
    stdio(2, "type"),
    stdio(2, "name"),
  ],
};
