/**
 * Synthetic decoded events for state tests and benchmarks: the shapes decodeRecord()
 * produces, with defaults for everything a test does not care about.
 */
import { LN_CONST, LN_HDR, LN_KIND, LN_SOCK_TUPLE, LN_SYSCALL } from "../capture/abi.generated.js";
import { FRAME_HEADER } from "../decode/record-view.js";
import type { ProcEvent, SyscallEvent } from "../decode/event.js";
import type { SockAddr, SockTuple } from "../decode/sockaddr.js";
import { syscallNr } from "../decode/syscall-params.js";

export const PF_THREAD = LN_CONST.LN_C_PF_THREAD;
export const PF_GROUP_DEAD = LN_CONST.LN_C_PF_GROUP_DEAD;
export const PF_EXE_MEMFD = LN_CONST.LN_C_PF_EXE_MEMFD;
export const PF_EXE_UPPER = LN_CONST.LN_C_PF_EXE_UPPER;
export const ARG_RET = LN_CONST.LN_C_ARG_RET;

const EMPTY_MAP: ReadonlyMap<number, never> = new Map<number, never>();

export function procEvent(kind: ProcEvent["kind"], o: Partial<ProcEvent> & { tgid: number }): ProcEvent {
  return {
    kind,
    ts: 1_000_000_000,
    tid: o.tgid,
    cpu: 0,
    ppid: 1,
    uid: 0,
    gid: 0,
    euid: 0,
    egid: 0,
    loginuid: 0xffffffff,
    vpid: o.tgid,
    vtid: o.tid ?? o.tgid,
    sid: 0,
    vpgid: 0,
    tty: 0,
    exitCode: 0,
    startNs: 500_000_000n,
    cgroupId: 1n,
    mntns: 0n,
    pidns: 0n,
    netns: 0n,
    capEffective: 0n,
    capPermitted: 0n,
    childTgid: 0,
    flags: 0,
    comm: "x",
    exe: null,
    argv: null,
    cwd: null,
    env: null,
    pgid: 0,
    exeIno: 0,
    exeCtimeNs: 0n,
    exeMtimeNs: 0n,
    pidnsInitStartNs: 0n,
    ...o,
  };
}

/** fork of `child` by `parent` (a process unless `thread`) */
export function fork(parent: number, child: number, o: Partial<ProcEvent> = {}): ProcEvent {
  return procEvent("fork", { tgid: parent, ppid: parent, childTgid: child, exitCode: child, ...o });
}

/** a new thread `tid` of process `pid` */
export function threadFork(pid: number, tid: number, o: Partial<ProcEvent> = {}): ProcEvent {
  return procEvent("fork", {
    tgid: pid,
    ppid: 1,
    childTgid: pid,
    exitCode: tid,
    flags: PF_THREAD,
    vtid: tid,
    ...o,
  });
}

export function exec(pid: number, exe: string, argv: string[], o: Partial<ProcEvent> = {}): ProcEvent {
  const slash = exe.lastIndexOf("/");
  return procEvent("exec", {
    tgid: pid,
    exe,
    argv,
    comm: exe.slice(slash + 1, slash + 16),
    exitCode: pid,
    ...o,
  });
}

export function exit(pid: number, tid = pid, last = true): ProcEvent {
  return procEvent("exit", {
    tgid: pid,
    tid,
    flags: (last ? PF_GROUP_DEAD : 0) | (tid !== pid ? PF_THREAD : 0),
  });
}

export interface SyscallOpts {
  tid?: number;
  ret?: number;
  args?: (number | bigint)[];
  paths?: [number, string][];
  dirs?: [number, string][];
  fdPaths?: [number, string][];
  sockaddrs?: [number, SockAddr][];
  tuple?: SockTuple | null;
  fds?: [number, number] | null;
  cwd?: string | null;
  data?: Buffer | null;
  openHow?: { flags: number; mode: number; resolve: number } | null;
  ts?: number;
  euid?: number;
  egid?: number;
  env?: readonly string[] | null;
  latencyNs?: number | null;
  fileInfo?: SyscallEvent["fileInfo"];
  pollFds?: SyscallEvent["pollFds"];
}

export function syscall(name: string, pid: number, o: SyscallOpts = {}): SyscallEvent {
  const nr = syscallNr(name);
  if (nr === undefined) throw new Error(`no syscall ${name}`);
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) {
    const a = o.args?.[i] ?? 0;
    args.push(typeof a === "bigint" ? a : BigInt.asUintN(64, BigInt(a)));
  }
  return {
    kind: "syscall",
    ts: o.ts ?? 2_000_000_000,
    tgid: pid,
    tid: o.tid ?? pid,
    cpu: 0,
    nr,
    type: name,
    ret: o.ret ?? 0,
    args,
    euid: o.euid ?? 0,
    egid: o.egid ?? 0,
    cgroupId: 0n,
    truncated: false,
    paths: o.paths ? new Map(o.paths) : EMPTY_MAP,
    fdPaths: o.fdPaths ? new Map(o.fdPaths) : EMPTY_MAP,
    dirs: o.dirs ? new Map(o.dirs) : EMPTY_MAP,
    sockaddrs: o.sockaddrs ? new Map(o.sockaddrs) : EMPTY_MAP,
    tuple: o.tuple ?? null,
    fds: o.fds ?? null,
    argv: null,
    exe: null,
    cwd: o.cwd ?? null,
    openHow: o.openHow ?? null,
    data: o.data ?? null,
    env: o.env ?? null,
    latencyNs: o.latencyNs ?? null,
    fileInfo: o.fileInfo ?? null,
    pollFds: o.pollFds ?? null,
  };
}

/** An IPv4 TCP tuple as the kernel reports it for the socket's own side. */
export function tcp4(lip: string, lport: number, rip: string, rport: number): SockTuple {
  return {
    family: 2,
    type: 1,
    protocol: 6,
    local: { family: 2, addr: lip, port: lport },
    remote: { family: 2, addr: rip, port: rport },
  };
}

/** Writes raw records in the batch framing the addon produces. */
export class BatchWriter {
  readonly buf: Buffer;
  off = 0;
  count = 0;
  constructor(bytes: number) {
    this.buf = Buffer.alloc(bytes);
  }
  syscall(
    pid: number,
    nr: number,
    ret: number,
    args: number[],
    tails: [kind: number, arg: number, data: Buffer][],
  ): void {
    const b = this.buf;
    let size = LN_SYSCALL.SIZEOF;
    for (const t of tails) size += 4 + t[2].length;
    const rec = this.off + FRAME_HEADER;
    b.writeUInt32LE(size, this.off);
    b.writeUInt32LE(0, this.off + 4);
    b.writeBigUInt64LE(BigInt(1e12 + this.count * 1000), rec + LN_HDR.TS);
    b.writeUInt32LE(pid, rec + LN_HDR.TGID);
    b.writeUInt32LE(pid, rec + LN_HDR.TID);
    b.writeUInt16LE(LN_KIND.LN_K_SYSCALL, rec + LN_HDR.KIND);
    b.writeUInt16LE(size, rec + LN_HDR.SIZE);
    b.writeUInt16LE(0, rec + LN_HDR.CPU);
    b.writeUInt8(tails.length, rec + LN_HDR.NTAILS);
    b.writeUInt8(0, rec + LN_HDR.FLAGS);
    b.writeUInt32LE(nr, rec + LN_SYSCALL.NR);
    b.writeBigInt64LE(BigInt(ret), rec + LN_SYSCALL.RET);
    for (let i = 0; i < 6; i++)
      b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(args[i] ?? 0)), rec + LN_SYSCALL.ARGS + i * 8);
    b.writeBigUInt64LE(BigInt(5000 + (pid % 100)), rec + LN_SYSCALL.CGROUP_ID);
    let o = rec + LN_SYSCALL.SIZEOF;
    for (const [kind, arg, data] of tails) {
      b.writeUInt16LE(data.length, o);
      b.writeUInt8(kind, o + 2);
      b.writeUInt8(arg, o + 3);
      data.copy(b, o + 4);
      o += 4 + data.length;
    }
    this.off += FRAME_HEADER + ((size + 7) & ~7);
    this.count++;
  }
}

/** NUL-terminated string bytes, as path tails carry them. */
export const cstrBytes = (s: string): Buffer => Buffer.from(`${s}\0`);

/** A `struct ln_sock_tuple` of an IPv4 TCP socket. */
export function tcp4Bytes(lip: number[], lport: number, rip: number[], rport: number): Buffer {
  const t = Buffer.alloc(LN_SOCK_TUPLE.SIZEOF);
  t.writeUInt16LE(2, LN_SOCK_TUPLE.FAMILY);
  t.writeUInt16LE(1, LN_SOCK_TUPLE.TYPE);
  t.writeUInt16LE(lport, LN_SOCK_TUPLE.LPORT);
  t.writeUInt16LE(rport, LN_SOCK_TUPLE.RPORT);
  t.set(lip, LN_SOCK_TUPLE.LADDR);
  t.set(rip, LN_SOCK_TUPLE.RADDR);
  t.writeUInt16LE(6, LN_SOCK_TUPLE.PROTOCOL);
  return t;
}

/** A user `struct sockaddr_in`. */
export function sockaddr4Bytes(ip: number[], port: number): Buffer {
  const s = Buffer.alloc(16);
  s.writeUInt16LE(2, 0);
  s.writeUInt16BE(port, 2);
  s.set(ip, 4);
  return s;
}
