/**
 * What each supported syscall's record means: argument names (Falco's names where Falco
 * has them, so `evt.arg.<name>` works in rules) and how each argument renders.
 * The kernel side sends raw register values plus self-describing tails; this table gives
 * them names and types. Syscalls without an entry still decode (as `syscall_<nr>` args).
 */
import { syscallName, syscallNr } from "../capture/syscalls.js";

export { syscallName, syscallNr };

export type ParamType =
  | "fd" // file descriptor (int), -100 renders AT_FDCWD
  | "path" // user path string (tail LN_T_PATH of this arg), resolved with LN_T_DIR
  | "str" // user string that is not a path (memfd name, mount fstype)
  | "oflags"
  | "mode"
  | "int"
  | "uint"
  | "size64" // 64-bit size or offset (off_t)
  | "hex"
  | "uid"
  | "pid"
  | "signal"
  | "sockaddr" // tail LN_T_SOCKADDR of this arg
  | "ptrace_req"
  | "clone_flags"
  | "sock_domain"
  | "sock_type"
  | "fcntl_cmd"
  | "at_flags"
  | "rename_flags"
  | "mount_flags"
  | "umount_flags"
  | "memfd_flags"
  | "prctl_opt"
  | "bpf_cmd";

export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  /** argument register index (0..5) */
  readonly arg: number;
}

export interface SyscallSpec {
  readonly name: string;
  readonly nr: number;
  readonly params: readonly ParamSpec[];
  /** what the return value is: an fd, a pid, or a plain result */
  readonly ret: "fd" | "pid" | "res";
  /** which argument is the fd the event is about (fd.* fields) */
  readonly fdArg?: number;
  /** argument index of the path that fd.name / fs.path.name resolve */
  readonly pathArg?: number;
  /** second path (rename/link target) for fs.path.target */
  readonly targetArg?: number;
  /** needs a sys_enter probe (TOCTOU: path or sockaddr read at entry) */
  readonly enter?: boolean;
}

const p = (name: string, type: ParamType, arg: number): ParamSpec => ({ name, type, arg });

type Def = Omit<SyscallSpec, "nr">;
const DEFS: readonly Def[] = [
  { name: "execve", ret: "res", params: [p("filename", "path", 0)] },
  {
    name: "execveat",
    ret: "res",
    params: [p("dirfd", "fd", 0), p("pathname", "path", 1), p("flags", "at_flags", 4)],
  },
  { name: "clone", ret: "pid", params: [p("flags", "clone_flags", 0)] },
  { name: "clone3", ret: "pid", params: [p("size", "uint", 1)] },
  { name: "fork", ret: "pid", params: [] },
  { name: "vfork", ret: "pid", params: [] },
  {
    name: "open",
    ret: "fd",
    enter: true,
    params: [p("name", "path", 0), p("flags", "oflags", 1), p("mode", "mode", 2)],
    pathArg: 0,
  },
  {
    name: "openat",
    ret: "fd",
    enter: true,
    params: [p("dirfd", "fd", 0), p("name", "path", 1), p("flags", "oflags", 2), p("mode", "mode", 3)],
    pathArg: 1,
  },
  {
    name: "openat2",
    ret: "fd",
    enter: true,
    // flags and mode live in struct open_how (arg 2), carried as an LN_T_OPEN_HOW tail
    params: [p("dirfd", "fd", 0), p("name", "path", 1), p("flags", "oflags", 2), p("mode", "mode", 2)],
    pathArg: 1,
  },
  { name: "creat", ret: "fd", enter: true, params: [p("name", "path", 0), p("mode", "mode", 1)], pathArg: 0 },
  { name: "close", ret: "res", params: [p("fd", "fd", 0)], fdArg: 0 },
  { name: "dup", ret: "fd", params: [p("oldfd", "fd", 0)], fdArg: 0 },
  { name: "dup2", ret: "fd", params: [p("oldfd", "fd", 0), p("newfd", "fd", 1)], fdArg: 0 },
  {
    name: "dup3",
    ret: "fd",
    params: [p("oldfd", "fd", 0), p("newfd", "fd", 1), p("flags", "oflags", 2)],
    fdArg: 0,
  },
  {
    name: "fcntl",
    ret: "res",
    params: [p("fd", "fd", 0), p("cmd", "fcntl_cmd", 1), p("arg", "int", 2)],
    fdArg: 0,
  },
  {
    name: "socket",
    ret: "fd",
    params: [p("domain", "sock_domain", 0), p("type", "sock_type", 1), p("proto", "int", 2)],
  },
  {
    name: "socketpair",
    ret: "res",
    params: [p("domain", "sock_domain", 0), p("type", "sock_type", 1), p("proto", "int", 2)],
  },
  {
    name: "connect",
    ret: "res",
    enter: true,
    params: [p("fd", "fd", 0), p("addr", "sockaddr", 1)],
    fdArg: 0,
  },
  { name: "accept", ret: "fd", params: [p("fd", "fd", 0)] },
  { name: "accept4", ret: "fd", params: [p("fd", "fd", 0), p("flags", "sock_type", 3)] },
  { name: "bind", ret: "res", params: [p("fd", "fd", 0), p("addr", "sockaddr", 1)], fdArg: 0 },
  { name: "listen", ret: "res", params: [p("fd", "fd", 0), p("backlog", "int", 1)], fdArg: 0 },
  {
    name: "sendto",
    ret: "res",
    params: [p("fd", "fd", 0), p("size", "uint", 2), p("addr", "sockaddr", 4)],
    fdArg: 0,
  },
  { name: "recvfrom", ret: "res", params: [p("fd", "fd", 0), p("size", "uint", 2)], fdArg: 0 },
  // msg_name of the user msghdr (unconnected UDP peers), read at exit: tail LN_T_SOCKADDR (1)
  { name: "sendmsg", ret: "res", params: [p("fd", "fd", 0), p("addr", "sockaddr", 1)], fdArg: 0 },
  { name: "recvmsg", ret: "res", params: [p("fd", "fd", 0), p("addr", "sockaddr", 1)], fdArg: 0 },
  // the pollfd array after the call: tail LN_T_POLLFDS (0)
  { name: "poll", ret: "res", params: [p("nfds", "uint", 1), p("timeout", "int", 2)] },
  { name: "ppoll", ret: "res", params: [p("nfds", "uint", 1)] },
  { name: "unlink", ret: "res", params: [p("path", "path", 0)], pathArg: 0 },
  {
    name: "unlinkat",
    ret: "res",
    params: [p("dirfd", "fd", 0), p("name", "path", 1), p("flags", "at_flags", 2)],
    pathArg: 1,
  },
  {
    name: "rename",
    ret: "res",
    params: [p("oldpath", "path", 0), p("newpath", "path", 1)],
    pathArg: 0,
    targetArg: 1,
  },
  {
    name: "renameat",
    ret: "res",
    params: [
      p("olddirfd", "fd", 0),
      p("oldpath", "path", 1),
      p("newdirfd", "fd", 2),
      p("newpath", "path", 3),
    ],
    pathArg: 1,
    targetArg: 3,
  },
  {
    name: "renameat2",
    ret: "res",
    params: [
      p("olddirfd", "fd", 0),
      p("oldpath", "path", 1),
      p("newdirfd", "fd", 2),
      p("newpath", "path", 3),
      p("flags", "rename_flags", 4),
    ],
    pathArg: 1,
    targetArg: 3,
  },
  { name: "mkdir", ret: "res", params: [p("path", "path", 0), p("mode", "mode", 1)], pathArg: 0 },
  {
    name: "mkdirat",
    ret: "res",
    params: [p("dirfd", "fd", 0), p("path", "path", 1), p("mode", "mode", 2)],
    pathArg: 1,
  },
  { name: "rmdir", ret: "res", params: [p("path", "path", 0)], pathArg: 0 },
  {
    name: "symlink",
    ret: "res",
    params: [p("target", "str", 0), p("linkpath", "path", 1)],
    pathArg: 1,
    targetArg: 0,
  },
  {
    name: "symlinkat",
    ret: "res",
    params: [p("target", "str", 0), p("linkdirfd", "fd", 1), p("linkpath", "path", 2)],
    pathArg: 2,
    targetArg: 0,
  },
  {
    name: "link",
    ret: "res",
    params: [p("oldpath", "path", 0), p("newpath", "path", 1)],
    pathArg: 1,
    targetArg: 0,
  },
  {
    name: "linkat",
    ret: "res",
    params: [
      p("olddir", "fd", 0),
      p("oldpath", "path", 1),
      p("newdir", "fd", 2),
      p("newpath", "path", 3),
      p("flags", "at_flags", 4),
    ],
    pathArg: 3,
    targetArg: 1,
  },
  { name: "chmod", ret: "res", params: [p("filename", "path", 0), p("mode", "mode", 1)], pathArg: 0 },
  { name: "truncate", ret: "res", params: [p("path", "path", 0), p("length", "size64", 1)], pathArg: 0 },
  { name: "ftruncate", ret: "res", params: [p("fd", "fd", 0), p("length", "size64", 1)], fdArg: 0 },
  { name: "fchmod", ret: "res", params: [p("fd", "fd", 0), p("mode", "mode", 1)], fdArg: 0 },
  {
    name: "fchmodat",
    ret: "res",
    params: [p("dirfd", "fd", 0), p("filename", "path", 1), p("mode", "mode", 2)],
    pathArg: 1,
  },
  {
    name: "chown",
    ret: "res",
    params: [p("path", "path", 0), p("uid", "uid", 1), p("gid", "uid", 2)],
    pathArg: 0,
  },
  {
    name: "fchown",
    ret: "res",
    params: [p("fd", "fd", 0), p("uid", "uid", 1), p("gid", "uid", 2)],
    fdArg: 0,
  },
  {
    name: "fchownat",
    ret: "res",
    params: [
      p("dirfd", "fd", 0),
      p("pathname", "path", 1),
      p("uid", "uid", 2),
      p("gid", "uid", 3),
      p("flags", "at_flags", 4),
    ],
    pathArg: 1,
  },
  { name: "setuid", ret: "res", params: [p("uid", "uid", 0)] },
  { name: "setgid", ret: "res", params: [p("gid", "uid", 0)] },
  { name: "setresuid", ret: "res", params: [p("ruid", "uid", 0), p("euid", "uid", 1), p("suid", "uid", 2)] },
  { name: "setresgid", ret: "res", params: [p("rgid", "uid", 0), p("egid", "uid", 1), p("sgid", "uid", 2)] },
  { name: "setreuid", ret: "res", params: [p("ruid", "uid", 0), p("euid", "uid", 1)] },
  { name: "setregid", ret: "res", params: [p("rgid", "uid", 0), p("egid", "uid", 1)] },
  { name: "capset", ret: "res", params: [] },
  {
    name: "ptrace",
    ret: "res",
    params: [p("request", "ptrace_req", 0), p("pid", "pid", 1), p("addr", "hex", 2), p("data", "hex", 3)],
  },
  {
    name: "mount",
    ret: "res",
    params: [p("dev", "str", 0), p("dir", "path", 1), p("type", "str", 2), p("flags", "mount_flags", 3)],
    pathArg: 1,
  },
  { name: "umount2", ret: "res", params: [p("name", "path", 0), p("flags", "umount_flags", 1)], pathArg: 0 },
  { name: "setns", ret: "res", params: [p("fd", "fd", 0), p("nstype", "clone_flags", 1)], fdArg: 0 },
  { name: "unshare", ret: "res", params: [p("flags", "clone_flags", 0)] },
  { name: "chdir", ret: "res", params: [p("path", "path", 0)], pathArg: 0 },
  { name: "fchdir", ret: "res", params: [p("fd", "fd", 0)], fdArg: 0 },
  { name: "chroot", ret: "res", params: [p("path", "path", 0)], pathArg: 0 },
  { name: "prctl", ret: "res", params: [p("option", "prctl_opt", 0), p("arg2", "hex", 1)] },
  { name: "kill", ret: "res", params: [p("pid", "pid", 0), p("sig", "signal", 1)] },
  { name: "tkill", ret: "res", params: [p("tid", "pid", 0), p("sig", "signal", 1)] },
  { name: "tgkill", ret: "res", params: [p("pid", "pid", 0), p("tid", "pid", 1), p("sig", "signal", 2)] },
  // the siginfo and its queueing variants (fixed records: the siginfo itself is not read)
  { name: "rt_sigqueueinfo", ret: "res", params: [p("pid", "pid", 0), p("sig", "signal", 1)] },
  {
    name: "rt_tgsigqueueinfo",
    ret: "res",
    params: [p("pid", "pid", 0), p("tid", "pid", 1), p("sig", "signal", 2)],
  },
  {
    name: "pidfd_send_signal",
    ret: "res",
    params: [p("pidfd", "fd", 0), p("sig", "signal", 1), p("flags", "uint", 3)],
    fdArg: 0,
  },
  { name: "pidfd_open", ret: "fd", params: [p("pid", "pid", 0), p("flags", "uint", 1)] },
  { name: "memfd_create", ret: "fd", params: [p("name", "str", 0), p("flags", "memfd_flags", 1)] },
  { name: "bpf", ret: "res", params: [p("cmd", "bpf_cmd", 0)] },
  { name: "init_module", ret: "res", params: [p("len", "uint", 1), p("uargs", "str", 2)] },
  {
    name: "finit_module",
    ret: "res",
    params: [p("fd", "fd", 0), p("uargs", "str", 1), p("flags", "int", 2)],
    fdArg: 0,
  },
  { name: "userfaultfd", ret: "fd", params: [p("flags", "int", 0)] },
  { name: "io_uring_setup", ret: "fd", params: [p("entries", "uint", 0)] },
  { name: "pipe", ret: "res", params: [] },
  { name: "pipe2", ret: "res", params: [p("flags", "oflags", 1)] },
];

function build(): Map<number, SyscallSpec> {
  const m = new Map<number, SyscallSpec>();
  for (const d of DEFS) {
    const nr = syscallNr(d.name);
    if (nr === undefined) throw new Error(`syscall table: no x86_64 number for ${d.name}`);
    m.set(nr, { ...d, nr });
  }
  return m;
}

/** Syscalls whose arguments Lanner decodes, by number. */
export const SYSCALL_SPECS: ReadonlyMap<number, SyscallSpec> = build();

/** Names of the syscalls with decoded arguments, in table order. */
export const SUPPORTED_SYSCALLS: readonly string[] = DEFS.map((d) => d.name);
