/**
 * Materialised events: made only for records that survive user-space filtering.
 * Strings are decoded here, never on the hot path.
 */
import { posix } from "node:path";
import {
  LN_CONST,
  LN_FILE_INFO,
  LN_OPEN_HOW,
  LN_POLLFD,
  LN_PROC,
  LN_SOCK_TUPLE,
  LN_TAIL_KIND,
} from "../capture/abi.generated.js";
import {
  KIND_EXEC,
  KIND_EXIT,
  KIND_FORK,
  KIND_SYSCALL,
  recordValid,
  type RecordView,
} from "./record-view.js";
import { parseSockaddr, parseTuple, type SockAddr, type SockTuple } from "./sockaddr.js";
import { syscallName } from "./syscall-params.js";

export interface SyscallEvent {
  readonly kind: "syscall";
  readonly ts: number;
  readonly tgid: number;
  readonly tid: number;
  readonly cpu: number;
  readonly nr: number;
  /** evt.type: the syscall name */
  readonly type: string;
  readonly ret: number;
  /** raw argument registers */
  readonly args: readonly bigint[];
  readonly euid: number;
  readonly egid: number;
  readonly cgroupId: bigint;
  readonly truncated: boolean;
  /** user path strings by argument index (LN_T_PATH) */
  readonly paths: ReadonlyMap<number, string>;
  /** path of a non-socket fd argument (LN_T_FDPATH), by argument index */
  readonly fdPaths: ReadonlyMap<number, string>;
  /** directory a relative path of that argument resolves against (LN_T_DIR) */
  readonly dirs: ReadonlyMap<number, string>;
  readonly sockaddrs: ReadonlyMap<number, SockAddr>;
  /** kernel socket tuple of the fd the syscall used or returned */
  readonly tuple: SockTuple | null;
  readonly fds: readonly [number, number] | null;
  readonly argv: readonly string[] | null;
  readonly exe: string | null;
  readonly cwd: string | null;
  readonly openHow: { flags: number; mode: number; resolve: number } | null;
  readonly data: Buffer | null;
  /** execve/execveat success: the new image's environment ("NAME=value", bounded) */
  readonly env: readonly string[] | null;
  /**
   * exit ts - entry ts (ns) of the syscalls stashed at entry (open, openat, openat2, creat,
   * connect, execve, execveat); null for others, or when the entry was missed
   */
  readonly latencyNs: number | null;
  /** open/openat/openat2/creat success: the returned file (LN_T_FILE) */
  readonly fileInfo: FileInfo | null;
  /** poll/ppoll success: the pollfd array after the call (at most LN_MAX_POLLFDS) */
  readonly pollFds: readonly PollFd[] | null;
}

/** The file an open returned: what Falco calls fd.dev and fd.ino, and its overlay layer. */
export interface FileInfo {
  /**
   * device of the file's filesystem as user space encodes dev_t (stat(2)'s st_dev, Falco's
   * fd.dev): major = (dev >> 8) & 0xfff, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
   */
  dev: number;
  ino: number;
  /** on overlayfs, in the upper layer */
  upper: boolean;
  /** on overlayfs, only in a lower layer */
  lower: boolean;
}

/** One struct pollfd as poll/ppoll left it (events and revents as unsigned 16-bit masks). */
export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

export type ProcKind = "fork" | "exec" | "exit";

export interface ProcEvent {
  readonly kind: ProcKind;
  readonly ts: number;
  readonly tgid: number;
  readonly tid: number;
  readonly cpu: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  readonly euid: number;
  readonly egid: number;
  readonly loginuid: number;
  readonly vpid: number;
  readonly vtid: number;
  readonly sid: number;
  readonly vpgid: number;
  readonly tty: number;
  readonly exitCode: number;
  readonly startNs: bigint;
  readonly cgroupId: bigint;
  readonly mntns: bigint;
  readonly pidns: bigint;
  readonly netns: bigint;
  readonly capEffective: bigint;
  readonly capPermitted: bigint;
  readonly childTgid: number;
  readonly flags: number;
  readonly comm: string;
  readonly exe: string | null;
  readonly argv: readonly string[] | null;
  readonly cwd: string | null;
  /** exec: the new image's environment (bounded like argv); null in fork/exit records */
  readonly env: readonly string[] | null;
  /** process group id in the host pid namespace */
  readonly pgid: number;
  /** exec: the executable's inode number (0 in fork/exit records) */
  readonly exeIno: number;
  /** exec: the executable's ctime, ns since the epoch (0n in fork/exit records) */
  readonly exeCtimeNs: bigint;
  /** exec: the executable's mtime, ns since the epoch */
  readonly exeMtimeNs: bigint;
  /** start (boot ns) of the init process of the task's pid namespace */
  readonly pidnsInitStartNs: bigint;
}

export type DecodedEvent = SyscallEvent | ProcEvent;

const OPEN_HOW_SIZE = LN_OPEN_HOW.SIZEOF;
const TWO32 = 4294967296;

const PROC_KINDS: Readonly<Record<number, ProcKind>> = {
  [KIND_FORK]: "fork",
  [KIND_EXEC]: "exec",
  [KIND_EXIT]: "exit",
};

function cstr(buf: Buffer, start: number, len: number): string {
  let end = start + len;
  if (end > start && buf[end - 1] === 0) end--;
  return buf.toString("utf8", start, end);
}

/** NUL-separated strings (argv, environment); a last unterminated one counts too. */
export function splitStrings(buf: Buffer, start: number, len: number): string[] {
  const out: string[] = [];
  let s = start;
  const end = start + len;
  for (let i = start; i < end; i++) {
    if (buf[i] === 0) {
      out.push(buf.toString("utf8", s, i));
      s = i + 1;
    }
  }
  if (s < end) out.push(buf.toString("utf8", s, end));
  return out;
}

/**
 * Environments repeat (every exec of a workload inherits its parent's): the strings of an
 * environment seen recently are reused, found by a hash of the bytes and checked byte for
 * byte, so an exec costs a pass over the bytes instead of splitting and decoding them.
 */
const ENV_CACHE_MAX = 256;
const envCache = new Map<number, { bytes: Buffer; env: string[] }>();

export function envStrings(buf: Buffer, start: number, len: number): string[] {
  let h = 0x811c9dc5;
  const end = start + len;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  const hit = envCache.get(h);
  if (hit !== undefined && hit.bytes.length === len && buf.compare(hit.bytes, 0, len, start, end) === 0)
    return hit.env;
  const env = splitStrings(buf, start, len);
  if (envCache.size >= ENV_CACHE_MAX) envCache.clear();
  envCache.set(h, { bytes: Buffer.from(buf.subarray(start, end)), env });
  return env;
}

/** kernel dev_t (major << 20 | minor) -> the user-space encoding (new_encode_dev) */
export function userDev(kdev: number): number {
  const major = kdev >>> 20;
  const minor = kdev & 0xfffff;
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

export interface TailAcc {
  paths: Map<number, string>;
  fdPaths: Map<number, string>;
  dirs: Map<number, string>;
  sockaddrs: Map<number, SockAddr>;
  tuple: SockTuple | null;
  fds: [number, number] | null;
  argv: string[] | null;
  exe: string | null;
  cwd: string | null;
  openHow: { flags: number; mode: number; resolve: number } | null;
  data: Buffer | null;
  env: string[] | null;
  enterTs: number;
  fileInfo: FileInfo | null;
  pollFds: PollFd[] | null;
}

/** Shared by tail sets without such a tail (never written: a map is made on the first one). */
const NO_STRINGS: Map<number, string> = new Map();
const NO_SOCKADDRS: Map<number, SockAddr> = new Map();

function put<V>(m: Map<number, V>, none: Map<number, V>, arg: number, v: V): Map<number, V> {
  const out = m === none ? new Map<number, V>() : m;
  out.set(arg, v);
  return out;
}

/** Reads the tails of a record recordValid() accepted; every read stays inside its tail. */
export function readTails(v: RecordView, end: number): TailAcc {
  const acc: TailAcc = {
    paths: NO_STRINGS,
    fdPaths: NO_STRINGS,
    dirs: NO_STRINGS,
    sockaddrs: NO_SOCKADDRS,
    tuple: null,
    fds: null,
    argv: null,
    exe: null,
    cwd: null,
    openHow: null,
    data: null,
    env: null,
    enterTs: -1,
    fileInfo: null,
    pollFds: null,
  };
  const { dv, buf } = v;
  let o = v.tailsStart();
  const n = v.ntails;
  for (let i = 0; i < n && o + 4 <= end; i++) {
    const len = dv.getUint16(o, true);
    const kind = dv.getUint8(o + 2);
    const arg = dv.getUint8(o + 3);
    const start = o + 4;
    if (start + len > end) break; // malformed: never read past the record
    switch (kind) {
      case LN_TAIL_KIND.LN_T_PATH:
        acc.paths = put(acc.paths, NO_STRINGS, arg, cstr(buf, start, len));
        break;
      case LN_TAIL_KIND.LN_T_FDPATH:
        acc.fdPaths = put(acc.fdPaths, NO_STRINGS, arg, cstr(buf, start, len));
        break;
      case LN_TAIL_KIND.LN_T_DIR:
        acc.dirs = put(acc.dirs, NO_STRINGS, arg, cstr(buf, start, len));
        break;
      case LN_TAIL_KIND.LN_T_SOCKADDR: {
        const sa = parseSockaddr(buf, start, len);
        if (sa) acc.sockaddrs = put(acc.sockaddrs, NO_SOCKADDRS, arg, sa);
        break;
      }
      case LN_TAIL_KIND.LN_T_TUPLE:
        if (len >= LN_SOCK_TUPLE.SIZEOF) acc.tuple = parseTuple(dv, start, len);
        break;
      case LN_TAIL_KIND.LN_T_FDS:
        if (len >= 8) acc.fds = [dv.getInt32(start, true), dv.getInt32(start + 4, true)];
        break;
      case LN_TAIL_KIND.LN_T_ARGV:
        acc.argv = splitStrings(buf, start, len);
        break;
      case LN_TAIL_KIND.LN_T_EXE:
        acc.exe = cstr(buf, start, len);
        break;
      case LN_TAIL_KIND.LN_T_CWD:
        acc.cwd = cstr(buf, start, len);
        break;
      case LN_TAIL_KIND.LN_T_OPEN_HOW:
        if (len >= OPEN_HOW_SIZE)
          acc.openHow = {
            flags: Number(dv.getBigUint64(start + LN_OPEN_HOW.FLAGS, true)),
            mode: Number(dv.getBigUint64(start + LN_OPEN_HOW.MODE, true)),
            resolve: Number(dv.getBigUint64(start + LN_OPEN_HOW.RESOLVE, true)),
          };
        break;
      case LN_TAIL_KIND.LN_T_DATA:
        acc.data = Buffer.from(buf.subarray(start, start + len));
        break;
      case LN_TAIL_KIND.LN_T_ENV:
        acc.env = envStrings(buf, start, len);
        break;
      case LN_TAIL_KIND.LN_T_ENTER_TS:
        if (len >= 8) acc.enterTs = dv.getUint32(start + 4, true) * TWO32 + dv.getUint32(start, true);
        break;
      case LN_TAIL_KIND.LN_T_FILE:
        if (len >= LN_FILE_INFO.SIZEOF) {
          const flags = dv.getUint32(start + LN_FILE_INFO.FLAGS, true);
          acc.fileInfo = {
            dev: userDev(dv.getUint32(start + LN_FILE_INFO.DEV, true)),
            ino:
              dv.getUint32(start + LN_FILE_INFO.INO + 4, true) * TWO32 +
              dv.getUint32(start + LN_FILE_INFO.INO, true),
            upper: (flags & LN_CONST.LN_C_FI_UPPER) !== 0,
            lower: (flags & LN_CONST.LN_C_FI_LOWER) !== 0,
          };
        }
        break;
      case LN_TAIL_KIND.LN_T_POLLFDS: {
        const fds: PollFd[] = [];
        for (let p = start; p + LN_POLLFD.SIZEOF <= start + len; p += LN_POLLFD.SIZEOF)
          fds.push({
            fd: dv.getInt32(p + LN_POLLFD.FD, true),
            events: dv.getUint16(p + LN_POLLFD.EVENTS, true),
            revents: dv.getUint16(p + LN_POLLFD.REVENTS, true),
          });
        acc.pollFds = fds;
        break;
      }
      default:
        break; // unknown tail kinds from a newer kernel side are skipped
    }
    o = start + len;
  }
  return acc;
}

/** Materialises the record the view points at; null when it is not a sound record. */
export function decodeRecord(v: RecordView): DecodedEvent | null {
  if (!recordValid(v)) return null;
  const kind = v.kind;
  const end = v.off + v.len;
  if (kind === KIND_SYSCALL) {
    const t = readTails(v, end);
    const args: bigint[] = [];
    for (let i = 0; i < 6; i++) args.push(v.argBig(i));
    const ts = v.ts;
    return {
      kind: "syscall",
      ts,
      tgid: v.tgid,
      tid: v.tid,
      cpu: v.cpu,
      nr: v.nr,
      type: syscallName(v.nr),
      ret: v.ret,
      args,
      euid: v.euid,
      egid: v.egid,
      cgroupId: v.syscallCgroupId,
      truncated: (v.flags & 1) !== 0,
      paths: t.paths,
      fdPaths: t.fdPaths,
      dirs: t.dirs,
      sockaddrs: t.sockaddrs,
      tuple: t.tuple,
      fds: t.fds,
      argv: t.argv,
      exe: t.exe,
      cwd: t.cwd,
      openHow: t.openHow,
      data: t.data,
      env: t.env,
      latencyNs: t.enterTs >= 0 && t.enterTs <= ts ? ts - t.enterTs : null,
      fileInfo: t.fileInfo,
      pollFds: t.pollFds,
    };
  }
  const pk = PROC_KINDS[kind];
  if (pk === undefined) return null;
  const { dv, off, buf } = v;
  const t = readTails(v, end);
  const u32 = (o: number): number => dv.getUint32(off + o, true);
  const u64 = (o: number): bigint => dv.getBigUint64(off + o, true);
  return {
    kind: pk,
    ts: v.ts,
    tgid: v.tgid,
    tid: v.tid,
    cpu: v.cpu,
    ppid: u32(LN_PROC.PPID),
    uid: u32(LN_PROC.UID),
    gid: u32(LN_PROC.GID),
    euid: u32(LN_PROC.EUID),
    egid: u32(LN_PROC.EGID),
    loginuid: u32(LN_PROC.LOGINUID),
    vpid: u32(LN_PROC.VPID),
    vtid: u32(LN_PROC.VTID),
    sid: u32(LN_PROC.SID),
    vpgid: u32(LN_PROC.VPGID),
    tty: u32(LN_PROC.TTY),
    exitCode: u32(LN_PROC.EXIT_CODE),
    startNs: u64(LN_PROC.START_NS),
    cgroupId: u64(LN_PROC.CGROUP_ID),
    mntns: u64(LN_PROC.MNTNS),
    pidns: u64(LN_PROC.PIDNS),
    netns: u64(LN_PROC.NETNS),
    capEffective: u64(LN_PROC.CAP_EFFECTIVE),
    capPermitted: u64(LN_PROC.CAP_PERMITTED),
    childTgid: u32(LN_PROC.CHILD_TGID),
    flags: u32(LN_PROC.FLAGS),
    comm: cstr(buf, off + LN_PROC.COMM, 16).replace(/\0.*$/s, ""),
    exe: t.exe,
    argv: t.argv,
    cwd: t.cwd,
    env: t.env,
    pgid: u32(LN_PROC.PGID),
    exeIno: Number(u64(LN_PROC.EXE_INO)),
    exeCtimeNs: u64(LN_PROC.EXE_CTIME_NS),
    exeMtimeNs: u64(LN_PROC.EXE_MTIME_NS),
    pidnsInitStartNs: u64(LN_PROC.PIDNS_INIT_START_NS),
  };
}

/** Resolves a path as the kernel saw it: absolute as is, relative against `dir`. */
export function resolvePath(path: string, dir: string | undefined | null): string {
  if (path === "") return path;
  if (path.startsWith("/")) return posix.normalize(path);
  if (!dir) return path;
  return posix.normalize(posix.join(dir, path));
}
