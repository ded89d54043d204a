/**
 * Renders flag words and enums the way rules compare them: by name, joined with `|`
 * (`O_WRONLY|O_CREAT`, `PTRACE_ATTACH`, `AF_PACKET`). Values are x86_64 Linux.
 */

type FlagTable = readonly (readonly [number, string])[];

function renderFlags(v: number, table: FlagTable, zero: string): string {
  const parts: string[] = [];
  let rest = v >>> 0;
  for (const [bit, name] of table) {
    if (bit !== 0 && (rest & bit) === bit) {
      parts.push(name);
      rest &= ~bit >>> 0;
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.length === 0 ? zero : parts.join("|");
}

function enumName(v: number, table: Readonly<Record<number, string>>): string {
  return table[v] ?? String(v);
}

const O_FLAGS: FlagTable = [
  [0o100, "O_CREAT"],
  [0o200, "O_EXCL"],
  [0o400, "O_NOCTTY"],
  [0o1000, "O_TRUNC"],
  [0o2000, "O_APPEND"],
  [0o4000, "O_NONBLOCK"],
  [0o4010000, "O_SYNC"],
  [0o10000, "O_DSYNC"],
  [0o20000, "O_ASYNC"],
  [0o40000, "O_DIRECT"],
  [0o100000, "O_LARGEFILE"],
  [0o200000, "O_DIRECTORY"],
  [0o400000, "O_NOFOLLOW"],
  [0o1000000, "O_NOATIME"],
  [0o2000000, "O_CLOEXEC"],
  [0o20200000, "O_TMPFILE"],
  [0o10000000, "O_PATH"],
];

/** open(2) flags: access mode first (`O_RDONLY`, `O_WRONLY`, `O_RDWR`), then the bits. */
export function openFlags(v: number): string {
  const acc = v & 3;
  const mode = acc === 0 ? "O_RDONLY" : acc === 1 ? "O_WRONLY" : acc === 2 ? "O_RDWR" : "O_ACCMODE";
  const rest = renderFlags(v & ~3, O_FLAGS, "");
  return rest === "" ? mode : `${mode}|${rest}`;
}

// Falco renders modes by name, lowest bit first (`S_IXOTH|S_IROTH|...|S_ISUID`), so rules
// can test `evt.arg.mode contains S_ISUID`.
const MODE_FLAGS: FlagTable = [
  [0o1, "S_IXOTH"],
  [0o2, "S_IWOTH"],
  [0o4, "S_IROTH"],
  [0o10, "S_IXGRP"],
  [0o20, "S_IWGRP"],
  [0o40, "S_IRGRP"],
  [0o100, "S_IXUSR"],
  [0o200, "S_IWUSR"],
  [0o400, "S_IRUSR"],
  [0o1000, "S_ISVTX"],
  [0o2000, "S_ISGID"],
  [0o4000, "S_ISUID"],
];

/** File mode bits by name, e.g. 0640 → `S_IRGRP|S_IWUSR|S_IRUSR` (0 → `0`). */
export function fileMode(v: number): string {
  return renderFlags(v & 0o7777, MODE_FLAGS, "0");
}

const CLONE_FLAGS: FlagTable = [
  [0x100, "CLONE_VM"],
  [0x200, "CLONE_FS"],
  [0x400, "CLONE_FILES"],
  [0x800, "CLONE_SIGHAND"],
  [0x1000, "CLONE_PIDFD"],
  [0x2000, "CLONE_PTRACE"],
  [0x4000, "CLONE_VFORK"],
  [0x8000, "CLONE_PARENT"],
  [0x10000, "CLONE_THREAD"],
  [0x20000, "CLONE_NEWNS"],
  [0x40000, "CLONE_SYSVSEM"],
  [0x80000, "CLONE_SETTLS"],
  [0x100000, "CLONE_PARENT_SETTID"],
  [0x200000, "CLONE_CHILD_CLEARTID"],
  [0x400000, "CLONE_DETACHED"],
  [0x800000, "CLONE_UNTRACED"],
  [0x1000000, "CLONE_CHILD_SETTID"],
  [0x2000000, "CLONE_NEWCGROUP"],
  [0x4000000, "CLONE_NEWUTS"],
  [0x8000000, "CLONE_NEWIPC"],
  [0x10000000, "CLONE_NEWUSER"],
  [0x20000000, "CLONE_NEWPID"],
  [0x40000000, "CLONE_NEWNET"],
  [0x80000000, "CLONE_IO"],
];

/** clone/unshare/setns flags (the exit signal in the low byte is dropped). */
export function cloneFlags(v: number): string {
  return renderFlags(v & ~0xff, CLONE_FLAGS, "0");
}

const PTRACE: Readonly<Record<number, string>> = {
  0: "PTRACE_TRACEME",
  1: "PTRACE_PEEKTEXT",
  2: "PTRACE_PEEKDATA",
  3: "PTRACE_PEEKUSR",
  4: "PTRACE_POKETEXT",
  5: "PTRACE_POKEDATA",
  6: "PTRACE_POKEUSR",
  7: "PTRACE_CONT",
  8: "PTRACE_KILL",
  9: "PTRACE_SINGLESTEP",
  12: "PTRACE_GETREGS",
  13: "PTRACE_SETREGS",
  14: "PTRACE_GETFPREGS",
  15: "PTRACE_SETFPREGS",
  16: "PTRACE_ATTACH",
  17: "PTRACE_DETACH",
  18: "PTRACE_GETFPXREGS",
  19: "PTRACE_SETFPXREGS",
  24: "PTRACE_SYSCALL",
  0x4200: "PTRACE_SETOPTIONS",
  0x4201: "PTRACE_GETEVENTMSG",
  0x4202: "PTRACE_GETSIGINFO",
  0x4203: "PTRACE_SETSIGINFO",
  0x4204: "PTRACE_GETREGSET",
  0x4205: "PTRACE_SETREGSET",
  0x4206: "PTRACE_SEIZE",
  0x4207: "PTRACE_INTERRUPT",
  0x4208: "PTRACE_LISTEN",
  0x4209: "PTRACE_PEEKSIGINFO",
};
export const ptraceRequest = (v: number): string => enumName(v, PTRACE);

const AF: Readonly<Record<number, string>> = {
  0: "AF_UNSPEC",
  1: "AF_UNIX",
  2: "AF_INET",
  3: "AF_AX25",
  4: "AF_IPX",
  5: "AF_APPLETALK",
  9: "AF_X25",
  10: "AF_INET6",
  16: "AF_NETLINK",
  17: "AF_PACKET",
  38: "AF_ALG",
  40: "AF_VSOCK",
  44: "AF_XDP",
};
export const socketDomain = (v: number): string => enumName(v, AF);

const SOCK_TYPE: Readonly<Record<number, string>> = {
  1: "SOCK_STREAM",
  2: "SOCK_DGRAM",
  3: "SOCK_RAW",
  4: "SOCK_RDM",
  5: "SOCK_SEQPACKET",
  6: "SOCK_DCCP",
  10: "SOCK_PACKET",
};
export function socketType(v: number): string {
  const parts = [enumName(v & 0xf, SOCK_TYPE)];
  if (v & 0o4000) parts.push("SOCK_NONBLOCK");
  if (v & 0o2000000) parts.push("SOCK_CLOEXEC");
  return parts.join("|");
}

const FCNTL: Readonly<Record<number, string>> = {
  0: "F_DUPFD",
  1: "F_GETFD",
  2: "F_SETFD",
  3: "F_GETFL",
  4: "F_SETFL",
  5: "F_GETLK",
  6: "F_SETLK",
  7: "F_SETLKW",
  8: "F_SETOWN",
  9: "F_GETOWN",
  1030: "F_DUPFD_CLOEXEC",
  1024: "F_SETLEASE",
  1025: "F_GETLEASE",
  1031: "F_SETPIPE_SZ",
  1032: "F_GETPIPE_SZ",
  1033: "F_ADD_SEALS",
  1034: "F_GET_SEALS",
};
export const fcntlCmd = (v: number): string => enumName(v, FCNTL);

const AT_FLAGS: FlagTable = [
  [0x100, "AT_SYMLINK_NOFOLLOW"],
  [0x200, "AT_REMOVEDIR"],
  [0x400, "AT_SYMLINK_FOLLOW"],
  [0x800, "AT_NO_AUTOMOUNT"],
  [0x1000, "AT_EMPTY_PATH"],
];
export const atFlags = (v: number): string => renderFlags(v, AT_FLAGS, "0");

const RENAME_FLAGS: FlagTable = [
  [1, "RENAME_NOREPLACE"],
  [2, "RENAME_EXCHANGE"],
  [4, "RENAME_WHITEOUT"],
];
export const renameFlags = (v: number): string => renderFlags(v, RENAME_FLAGS, "0");

const MOUNT_FLAGS: FlagTable = [
  [1, "MS_RDONLY"],
  [2, "MS_NOSUID"],
  [4, "MS_NODEV"],
  [8, "MS_NOEXEC"],
  [16, "MS_SYNCHRONOUS"],
  [32, "MS_REMOUNT"],
  [64, "MS_MANDLOCK"],
  [128, "MS_DIRSYNC"],
  [1024, "MS_NOATIME"],
  [2048, "MS_NODIRATIME"],
  [4096, "MS_BIND"],
  [8192, "MS_MOVE"],
  [16384, "MS_REC"],
  [32768, "MS_SILENT"],
  [1 << 16, "MS_POSIXACL"],
  [1 << 17, "MS_UNBINDABLE"],
  [1 << 18, "MS_PRIVATE"],
  [1 << 19, "MS_SLAVE"],
  [1 << 20, "MS_SHARED"],
  [1 << 21, "MS_RELATIME"],
  [1 << 22, "MS_KERNMOUNT"],
  [1 << 23, "MS_I_VERSION"],
  [1 << 24, "MS_STRICTATIME"],
  [1 << 25, "MS_LAZYTIME"],
];
export const mountFlags = (v: number): string => renderFlags(v, MOUNT_FLAGS, "0");

const UMOUNT_FLAGS: FlagTable = [
  [1, "MNT_FORCE"],
  [2, "MNT_DETACH"],
  [4, "MNT_EXPIRE"],
  [8, "UMOUNT_NOFOLLOW"],
];
export const umountFlags = (v: number): string => renderFlags(v, UMOUNT_FLAGS, "0");

const MEMFD_FLAGS: FlagTable = [
  [1, "MFD_CLOEXEC"],
  [2, "MFD_ALLOW_SEALING"],
  [4, "MFD_HUGETLB"],
  [8, "MFD_NOEXEC_SEAL"],
  [16, "MFD_EXEC"],
];
export const memfdFlags = (v: number): string => renderFlags(v, MEMFD_FLAGS, "0");

const SIGNALS: Readonly<Record<number, string>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};
export const signalName = (v: number): string => (v === 0 ? "0" : enumName(v, SIGNALS));

const PRCTL: Readonly<Record<number, string>> = {
  1: "PR_SET_PDEATHSIG",
  2: "PR_GET_PDEATHSIG",
  3: "PR_GET_DUMPABLE",
  4: "PR_SET_DUMPABLE",
  8: "PR_SET_KEEPCAPS",
  15: "PR_SET_NAME",
  16: "PR_GET_NAME",
  22: "PR_SET_SECCOMP",
  21: "PR_GET_SECCOMP",
  23: "PR_CAPBSET_READ",
  24: "PR_CAPBSET_DROP",
  35: "PR_SET_MM",
  36: "PR_SET_CHILD_SUBREAPER",
  37: "PR_GET_CHILD_SUBREAPER",
  38: "PR_SET_NO_NEW_PRIVS",
  39: "PR_GET_NO_NEW_PRIVS",
  47: "PR_CAP_AMBIENT",
  1499557217: "PR_SET_PTRACER",
};
export const prctlOption = (v: number): string => enumName(v, PRCTL);

const BPF_CMD: Readonly<Record<number, string>> = {
  0: "BPF_MAP_CREATE",
  1: "BPF_MAP_LOOKUP_ELEM",
  2: "BPF_MAP_UPDATE_ELEM",
  3: "BPF_MAP_DELETE_ELEM",
  4: "BPF_MAP_GET_NEXT_KEY",
  5: "BPF_PROG_LOAD",
  6: "BPF_OBJ_PIN",
  7: "BPF_OBJ_GET",
  8: "BPF_PROG_ATTACH",
  9: "BPF_PROG_DETACH",
  10: "BPF_PROG_TEST_RUN",
  11: "BPF_PROG_GET_NEXT_ID",
  12: "BPF_MAP_GET_NEXT_ID",
  13: "BPF_PROG_GET_FD_BY_ID",
  14: "BPF_MAP_GET_FD_BY_ID",
  15: "BPF_OBJ_GET_INFO_BY_FD",
  16: "BPF_PROG_QUERY",
  17: "BPF_RAW_TRACEPOINT_OPEN",
  18: "BPF_BTF_LOAD",
  19: "BPF_BTF_GET_FD_BY_ID",
  20: "BPF_TASK_FD_QUERY",
  28: "BPF_LINK_CREATE",
  29: "BPF_LINK_UPDATE",
  30: "BPF_LINK_GET_FD_BY_ID",
  31: "BPF_LINK_GET_NEXT_ID",
  32: "BPF_ENABLE_STATS",
  33: "BPF_ITER_CREATE",
};
export const bpfCmd = (v: number): string => enumName(v, BPF_CMD);

const ACCESS_MODES: FlagTable = [
  [1, "X_OK"],
  [2, "W_OK"],
  [4, "R_OK"],
];
export const accessMode = (v: number): string => renderFlags(v, ACCESS_MODES, "F_OK");
