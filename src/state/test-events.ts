/**
 * Synthetic decoded events for state tests and benchmarks: the shapes decodeRecord()
 * produces, with defaults for everything a test does not care about.
 */
import { LN_CONST } from "../capture/abi.generated.js";
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
    euid: 0,
    egid: 0,
    cgroupId: 1n,
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
