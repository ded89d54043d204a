/**
 * Syscall arguments as Falco names and renders them (`evt.arg.flags`, `evt.rawarg.fd`,
 * `evt.args`), from the raw registers and tails of a record and the argument table of
 * decode/syscall-params.ts.
 */
import type { SyscallEvent } from "../../decode/event.js";
import { resolvePath } from "../../decode/event.js";
import { resultName } from "../../decode/errno.js";
import * as F from "../../decode/flags.js";
import { formatEndpoint } from "../../decode/sockaddr.js";
import { SYSCALL_SPECS, type ParamSpec } from "../../decode/syscall-params.js";
import { argI32, argU32 } from "../../decode/syscall-view.js";

type Value = string | number | null;

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

/** One parameter rendered as Falco renders it. */
export function renderParam(ev: SyscallEvent, p: ParamSpec): Value {
  const u32 = argU32(ev, p.arg);
  switch (p.type) {
    case "fd":
    case "int":
    case "pid":
      return argI32(ev, p.arg);
    case "uint":
    case "uid":
      return u32;
    case "size64":
      return argNumber(ev.args[p.arg] ?? 0n, p.type);
    case "path":
    case "str":
      return ev.paths.get(p.arg) ?? null;
    case "oflags":
      return F.openFlags(ev.type === "openat2" && ev.openHow ? ev.openHow.flags : u32);
    case "mode":
      return F.fileMode(ev.type === "openat2" && ev.openHow ? ev.openHow.mode : u32);
    case "hex":
      return `0x${(ev.args[p.arg] ?? 0n).toString(16)}`;
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

/**
 * Falco's execve/execveat exit `flags`: what the new image is (EXE_WRITABLE, EXE_UPPER_LAYER,
 * EXE_FROM_MEMFD, EXE_LOWER_LAYER), from the process table (the exec record comes first).
 */
export interface ExeFacts {
  readonly isExeWritable: boolean;
  readonly isExeUpperLayer: boolean;
  readonly isExeFromMemfd: boolean;
  readonly isExeLowerLayer: boolean;
}

export function execFlags(p: ExeFacts): string {
  const out: string[] = [];
  if (p.isExeWritable) out.push("EXE_WRITABLE");
  if (p.isExeUpperLayer) out.push("EXE_UPPER_LAYER");
  if (p.isExeFromMemfd) out.push("EXE_FROM_MEMFD");
  if (p.isExeLowerLayer) out.push("EXE_LOWER_LAYER");
  return out.length === 0 ? "0" : out.join("|");
}

const EXEC = new Set(["execve", "execveat"]);

/**
 * execve's `args` as libsinsp renders the arguments buffer: each argument after argv[0]
 * followed by its NUL, shown as '.' (`-c.ls.`), in outputs and comparisons alike.
 */
export function argsBuffer(argv: readonly string[]): string {
  let s = "";
  for (let i = 1; i < argv.length; i++) s += `${argv[i]}.`;
  return s;
}
const PIPE = new Set(["pipe", "pipe2", "socketpair"]);

/**
 * `evt.arg.NAME`: a parameter by name, or one of the exit values Falco names (res, fd, args,
 * fd1/fd2 of pipe and socketpair, flags of a successful exec). `exe` is the process after
 * the event, for exec flags.
 */
export function argByName(ev: SyscallEvent, name: string, exe: ExeFacts | undefined): Value {
  const spec = SYSCALL_SPECS.get(ev.nr);
  if (EXEC.has(ev.type)) {
    switch (name) {
      case "res":
        return resultName(ev.ret);
      case "args":
        return ev.argv === null ? null : argsBuffer(ev.argv);
      case "exe":
        return ev.argv?.[0] ?? null;
      case "flags":
        // the exit's flags are the new image's; a failed exec's are execveat's own
        if (ev.ret === 0 && exe !== undefined) return execFlags(exe);
        break;
      case "env":
        return ev.env === null ? null : ev.env.join(" ");
      case "filename": {
        // execve's path as given; the kernel's exe when the path was not read
        const p = spec?.params.find((x) => x.name === name);
        if (p !== undefined) return ev.paths.get(p.arg) ?? ev.exe;
        break;
      }
    }
  }
  if (name === "res") return resultName(ev.ret);
  if (spec === undefined) return null;
  if (name === "fd" && spec.ret === "fd") return ev.ret;
  if (PIPE.has(ev.type) && ev.fds !== null) {
    if (name === "fd1") return ev.fds[0];
    if (name === "fd2") return ev.fds[1];
  }
  const p = spec.params.find((x) => x.name === name);
  return p === undefined ? null : renderParam(ev, p);
}

/** `evt.arg[N]`: the Nth parameter. */
export function argByIndex(ev: SyscallEvent, n: number, exe: ExeFacts | undefined): Value {
  const p = SYSCALL_SPECS.get(ev.nr)?.params[n];
  if (p !== undefined) return argByName(ev, p.name, exe);
  return n < 6 ? `0x${(ev.args[n] ?? 0n).toString(16)}` : null;
}

/** `evt.rawarg.NAME`: the number behind a parameter (res: the return value). */
export function rawArg(ev: SyscallEvent, arg: string | number): number | null {
  if (arg === "res") return ev.ret;
  const spec = SYSCALL_SPECS.get(ev.nr);
  if (arg === "fd" && spec?.ret === "fd") return ev.ret;
  const p = typeof arg === "number" ? spec?.params[arg] : spec?.params.find((x) => x.name === arg);
  return p === undefined ? null : argNumber(ev.args[p.arg] ?? 0n, p.type);
}

/** `evt.args`: every argument as `name=value`, the result first (as Falco lists exit args). */
export function renderArgs(ev: SyscallEvent, exe: ExeFacts | undefined): string {
  const spec = SYSCALL_SPECS.get(ev.nr);
  const parts: string[] = [];
  // a returned fd is `fd` (accept's listening fd is not: Falco's exit event names the new one)
  if (spec?.ret === "fd") parts.push(`fd=${ev.ret}`);
  else parts.push(`res=${ev.ret < 0 ? `${ev.ret}(${resultName(ev.ret)})` : ev.ret}`);
  if (spec === undefined) {
    for (let i = 0; i < 6; i++) parts.push(`arg${i}=0x${(ev.args[i] ?? 0n).toString(16)}`);
    return parts.join(" ");
  }
  for (const p of spec.params) {
    if (p.name === "fd" && spec.ret === "fd") continue; // shown first, as the result
    const v = argByName(ev, p.name, exe);
    parts.push(`${p.name}=${v === null ? "<NA>" : v}`);
  }
  if (EXEC.has(ev.type)) {
    if (ev.argv !== null) parts.push(`args=${argsBuffer(ev.argv)}`);
    // execveat's own `flags` parameter already shows them
    if (ev.ret === 0 && exe !== undefined && !spec.params.some((p) => p.name === "flags"))
      parts.push(`flags=${execFlags(exe)}`);
  }
  if (PIPE.has(ev.type) && ev.fds !== null) parts.push(`fd1=${ev.fds[0]}`, `fd2=${ev.fds[1]}`);
  return parts.join(" ");
}
