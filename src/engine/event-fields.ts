/**
 * Renders a decoded event as fields named as the rules language names them
 * (`evt.type`, `proc.name`, `fd.name`, `evt.arg.flags`...). Used by `lanner capture`;
 * the rules engine reads the same values.
 */
import type { DecodedEvent, SyscallEvent } from "../decode/event.js";
import { resolvePath } from "../decode/event.js";
import { resultName } from "../decode/errno.js";
import * as F from "../decode/flags.js";
import { AF_INET, AF_INET6, AF_UNIX, formatEndpoint, type SockAddr } from "../decode/sockaddr.js";
import { SYSCALL_SPECS, type ParamSpec } from "../decode/syscall-params.js";
import { formatRfc3339Nano } from "../rules/output.js";
import type { ProcessTable } from "../state/process-table.js";
import { addStateFields } from "../state/state-fields.js";

export type FieldValue = string | number | boolean | null | readonly string[];
export type EventFields = Record<string, FieldValue>;

/** The number behind an argument (`evt.rawarg`): signed for fds, ints and pids, 64-bit for
 * sizes, else the unsigned 32-bit register value. */
export function argNumber(raw: bigint, type: ParamSpec["type"]): number {
  switch (type) {
    case "size64":
      return Number(BigInt.asIntN(64, raw));
    case "fd":
    case "int":
    case "pid":
      return Number(BigInt.asIntN(32, raw));
    default:
      return Number(BigInt.asUintN(32, raw));
  }
}

function renderArg(ev: SyscallEvent, p: ParamSpec): FieldValue {
  const raw = ev.args[p.arg] ?? 0n;
  const u32 = Number(BigInt.asUintN(32, raw));
  switch (p.type) {
    case "fd":
    case "int":
    case "pid":
    case "uint":
    case "uid":
    case "size64":
      return argNumber(raw, p.type);
    case "path":
    case "str":
      return ev.paths.get(p.arg) ?? null;
    case "oflags":
      return F.openFlags(ev.type === "openat2" && ev.openHow ? ev.openHow.flags : u32);
    case "mode":
      return F.fileMode(ev.type === "openat2" && ev.openHow ? ev.openHow.mode : u32);
    case "hex":
      return `0x${raw.toString(16)}`;
    case "signal":
      return F.signalName(u32);
    case "sockaddr": {
      const sa = ev.sockaddrs.get(p.arg);
      return sa ? formatEndpoint(sa) : null;
    }
    case "ptrace_req":
      return F.ptraceRequest(u32);
    case "clone_flags":
      return F.cloneFlags(u32);
    case "sock_domain":
      return F.socketDomain(u32);
    case "sock_type":
      return F.socketType(u32);
    case "fcntl_cmd":
      return F.fcntlCmd(u32);
    case "at_flags":
      return F.atFlags(u32);
    case "rename_flags":
      return F.renameFlags(u32);
    case "mount_flags":
      return F.mountFlags(u32);
    case "umount_flags":
      return F.umountFlags(u32);
    case "memfd_flags":
      return F.memfdFlags(u32);
    case "prctl_opt":
      return F.prctlOption(u32);
    case "bpf_cmd":
      return F.bpfCmd(u32);
  }
}

/** Argument `arg`'s path, made absolute against the directory captured with it. */
export function resolvedPath(ev: SyscallEvent, arg: number): string | null {
  const path = ev.paths.get(arg);
  if (path === undefined) return null;
  return resolvePath(path, ev.dirs.get(arg));
}

function fdTypeOf(family: number): string {
  return family === AF_INET ? "ipv4" : family === AF_INET6 ? "ipv6" : family === AF_UNIX ? "unix" : "file";
}

function addSocketFields(out: EventFields, ev: SyscallEvent, role: "client" | "server" | "local"): void {
  const t = ev.tuple;
  let local: SockAddr | null = t ? t.local : null;
  let remote: SockAddr | null = t ? t.remote : null;
  const user = ev.sockaddrs.values().next();
  const unset = (a: SockAddr | null): boolean =>
    a === null || a.addr === "" || (a.port === 0 && (a.addr === "0.0.0.0" || a.addr === "::"));
  if (!user.done && (unset(remote) || remote?.family === AF_UNIX)) {
    // connect/sendto to an address the kernel socket does not (yet) show
    remote = user.value;
    if (local === null) local = { family: remote.family, addr: "", port: 0 };
  }
  if (!local || !remote) return;
  const family = t?.family || remote.family;
  out["fd.type"] = fdTypeOf(family);
  out["fd.l4proto"] = t
    ? t.protocol === 6
      ? "tcp"
      : t.protocol === 17
        ? "udp"
        : t.protocol === 1
          ? "icmp"
          : family === AF_UNIX
            ? null
            : "raw"
    : null;
  if (family === AF_UNIX) {
    out["fd.name"] = remote.addr || local.addr || null;
    return;
  }
  // For an outbound socket the client is the local end; for an accepted one, the remote end.
  const client = role === "server" ? remote : local;
  const server = role === "server" ? local : remote;
  out["fd.cip"] = client.addr || null;
  out["fd.cport"] = client.port;
  out["fd.sip"] = server.addr || null;
  out["fd.sport"] = server.port;
  out["fd.lip"] = local.addr || null;
  out["fd.lport"] = local.port;
  out["fd.rip"] = remote.addr || null;
  out["fd.rport"] = remote.port;
  out["fd.name"] = `${formatEndpoint(client)}->${formatEndpoint(server)}`;
}

/** Falco's one-letter fd types. */
const FD_TYPECHAR: Readonly<Record<string, string>> = {
  file: "f",
  directory: "f",
  ipv4: "4",
  ipv6: "6",
  unix: "u",
  pipe: "p",
  memfd: "m",
  event: "e",
  signalfd: "s",
  eventpoll: "l",
  inotify: "i",
  timerfd: "t",
  netlink: "n",
  bpf: "b",
  userfaultfd: "u",
  io_uring: "r",
};

const SERVER_SIDE = new Set(["accept", "accept4", "bind", "listen", "recvfrom"]);

/**
 * The fields of one event. `num` is the event's sequence number in this capture. Apply the
 * event to the state first (State.apply), then render: process, thread and fd fields come
 * from the tables (state/state-fields.ts) where the event itself does not carry them.
 */
export function eventFields(
  ev: DecodedEvent,
  num: number,
  procs: ProcessTable | null,
  bootToWallNs: bigint,
): EventFields {
  const out = eventOwnFields(ev, num, procs, bootToWallNs);
  if (procs !== null) addStateFields(out, ev, procs, bootToWallNs);
  return out;
}

function eventOwnFields(
  ev: DecodedEvent,
  num: number,
  procs: ProcessTable | null,
  bootToWallNs: bigint,
): EventFields {
  const out: EventFields = {};
  out["evt.num"] = num;
  const wall = BigInt(Math.round(ev.ts)) + bootToWallNs;
  out["evt.time"] = formatRfc3339Nano(wall);
  out["evt.rawtime"] = wall.toString();
  out["evt.cpu"] = ev.cpu;
  out["proc.pid"] = ev.tgid;
  out["thread.tid"] = ev.tid;
  const p = procs?.lookup(ev.tgid);
  if (ev.kind === "syscall") {
    out["evt.type"] = ev.type;
    out["evt.dir"] = "<";
    out["evt.res"] = resultName(ev.ret);
    out["evt.rawres"] = ev.ret;
    out["evt.failed"] = ev.ret < 0 && ev.ret >= -4095;
    out["user.uid"] = ev.euid;
    out["group.gid"] = ev.egid;
  } else {
    out["evt.type"] = ev.kind === "fork" ? "procfork" : ev.kind === "exec" ? "procexec" : "procexit";
    out["evt.dir"] = "<";
    out["user.uid"] = ev.euid;
    out["group.gid"] = ev.egid;
    out["user.loginuid"] = ev.loginuid === 0xffffffff ? -1 : ev.loginuid;
    if (ev.kind === "fork") out["evt.arg.child_pid"] = ev.childTgid;
    if (ev.kind === "exit") out["evt.arg.status"] = ev.exitCode;
  }
  out["proc.ppid"] = ev.kind !== "syscall" ? ev.ppid : (p?.ppid ?? null);
  out["proc.name"] = ev.kind !== "syscall" ? ev.comm : (p?.comm ?? null);
  out["proc.exepath"] = (ev.kind === "exec" ? ev.exe : null) ?? p?.exepath ?? null;
  const argv = (ev.kind === "exec" ? ev.argv : null) ?? p?.argv ?? null;
  out["proc.args"] = argv ? argv.slice(1).join(" ") : null;
  out["proc.cmdline"] = argv ? [out["proc.name"] ?? "", ...argv.slice(1)].join(" ") : null;
  out["proc.cwd"] = (ev.kind === "exec" ? ev.cwd : null) ?? p?.cwd ?? null;
  if (ev.kind !== "syscall") return out;

  const spec = SYSCALL_SPECS.get(ev.nr);
  if (!spec) {
    for (let i = 0; i < 6; i++) out[`evt.arg[${i}]`] = `0x${(ev.args[i] ?? 0n).toString(16)}`;
    return out;
  }
  for (const prm of spec.params) out[`evt.arg.${prm.name}`] = renderArg(ev, prm);
  if (spec.ret === "fd") out["evt.arg.fd"] = ev.ret;
  if (ev.type === "execve" || ev.type === "execveat") {
    if (ev.exe !== null) out["proc.exepath"] = ev.exe;
    if (ev.argv !== null) {
      out["evt.arg.args"] = ev.argv.slice(1).join(" ");
      out["proc.args"] = ev.argv.slice(1).join(" ");
      out["proc.cmdline"] = [out["proc.name"] ?? "", ...ev.argv.slice(1)].join(" ");
      out["proc.argv"] = ev.argv;
    }
    if (ev.cwd !== null) out["proc.cwd"] = ev.cwd;
    if (out["evt.arg.filename"] === null || out["evt.arg.pathname"] === null) {
      out[ev.type === "execve" ? "evt.arg.filename" : "evt.arg.pathname"] = ev.exe;
    }
  }
  if (ev.fds) {
    out["evt.arg.fd1"] = ev.fds[0];
    out["evt.arg.fd2"] = ev.fds[1];
  }
  // fd.* for the fd this event is about
  const fdNum =
    spec.ret === "fd"
      ? ev.ret
      : spec.fdArg !== undefined
        ? Number(BigInt.asIntN(32, ev.args[spec.fdArg] ?? 0n))
        : null;
  if (fdNum !== null && fdNum >= 0) out["fd.num"] = fdNum;
  if (spec.pathArg !== undefined) {
    const abs = resolvedPath(ev, spec.pathArg);
    if (spec.ret === "fd") {
      out["fd.name"] = abs;
      out["fd.type"] = ev.type === "memfd_create" ? "memfd" : "file";
      if (abs) {
        const slash = abs.lastIndexOf("/");
        out["fd.directory"] = slash > 0 ? abs.slice(0, slash) : "/";
        out["fd.filename"] = abs.slice(slash + 1);
      }
    } else {
      out["fs.path.name"] = abs;
    }
    if (spec.targetArg !== undefined) {
      const tPath = ev.paths.get(spec.targetArg);
      out["fs.path.source"] = abs;
      out["fs.path.target"] =
        tPath === undefined
          ? null
          : spec.name.startsWith("symlink")
            ? tPath
            : resolvePath(tPath, ev.dirs.get(spec.targetArg));
    }
    if (ev.type === "openat" || ev.type === "openat2") {
      out["evt.abspath"] = abs;
    }
  }
  if (ev.type === "memfd_create") {
    out["fd.name"] = `memfd:${ev.paths.get(0) ?? ""}`;
    out["fd.type"] = "memfd";
  }
  if (ev.tuple !== null || ev.sockaddrs.size > 0) {
    addSocketFields(out, ev, SERVER_SIDE.has(ev.type) ? "server" : "client");
  }
  if (ev.type === "dup2" || ev.type === "dup3" || ev.type === "dup") out["fd.num"] = ev.ret;
  const ft = out["fd.type"];
  if (typeof ft === "string") out["fd.typechar"] = FD_TYPECHAR[ft] ?? "o";
  // the file behind an fd argument (dup, fchmod, fchown, fchdir, finit_module...)
  if (spec.fdArg !== undefined && out["fd.name"] === undefined) {
    const fp = ev.fdPaths.get(spec.fdArg);
    if (fp !== undefined) {
      out["fd.name"] = fp;
      out["fd.type"] = fp.startsWith("/memfd:") ? "memfd" : "file";
    }
  }
  return out;
}
