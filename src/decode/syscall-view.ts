/**
 * A syscall record seen through a reusable view instead of materialised: the fixed fields are
 * read when the view is set, the tails, arguments and cgroup id only when something reads
 * them. For the agent's per-event path, where most records are judged by a field or two.
 * Valid while the batch the record came from is: never keep one past its callback (use
 * decodeRecord for events that must outlive it).
 */
import { readTails, type FileInfo, type PollFd, type SyscallEvent, type TailAcc } from "./event.js";
import type { RecordView } from "./record-view.js";
import type { SockAddr, SockTuple } from "./sockaddr.js";
import { syscallName } from "./syscall-params.js";

export class SyscallView implements SyscallEvent {
  readonly kind = "syscall" as const;
  ts = 0;
  tgid = 0;
  tid = 0;
  cpu = 0;
  nr = 0;
  type = "";
  ret = 0;
  euid = 0;
  egid = 0;
  truncated = false;
  private v: RecordView | null = null;
  private end = 0;
  private t: TailAcc | null = null;
  private argsV: bigint[] | null = null;
  private cg: bigint | null = null;

  /** Points at the record `v` points at (a sound syscall record: walkBatch checked it). */
  set(v: RecordView): this {
    this.v = v;
    this.end = v.off + v.len;
    this.ts = v.ts;
    this.tgid = v.tgid;
    this.tid = v.tid;
    this.cpu = v.cpu;
    this.nr = v.nr;
    this.type = syscallName(this.nr);
    this.ret = v.ret;
    this.euid = v.euid;
    this.egid = v.egid;
    this.truncated = (v.flags & 1) !== 0;
    this.t = null;
    this.argsV = null;
    this.cg = null;
    return this;
  }

  private get view(): RecordView {
    return this.v as RecordView;
  }

  /** Argument `i` as a signed 32-bit integer, without making the 64-bit value. */
  argInt(i: number): number {
    return this.view.argInt(i);
  }
  /** Argument `i` as an unsigned 32-bit integer. */
  argUint(i: number): number {
    return this.view.argUint(i);
  }

  get args(): readonly bigint[] {
    if (this.argsV === null) {
      const a: bigint[] = [];
      for (let i = 0; i < 6; i++) a.push(this.view.argBig(i));
      this.argsV = a;
    }
    return this.argsV;
  }
  get cgroupId(): bigint {
    return (this.cg ??= this.view.syscallCgroupId);
  }

  private tails(): TailAcc {
    return (this.t ??= readTails(this.view, this.end));
  }
  get paths(): ReadonlyMap<number, string> {
    return this.tails().paths;
  }
  get fdPaths(): ReadonlyMap<number, string> {
    return this.tails().fdPaths;
  }
  get dirs(): ReadonlyMap<number, string> {
    return this.tails().dirs;
  }
  get sockaddrs(): ReadonlyMap<number, SockAddr> {
    return this.tails().sockaddrs;
  }
  get tuple(): SockTuple | null {
    return this.tails().tuple;
  }
  get fds(): readonly [number, number] | null {
    return this.tails().fds;
  }
  get argv(): readonly string[] | null {
    return this.tails().argv;
  }
  get exe(): string | null {
    return this.tails().exe;
  }
  get cwd(): string | null {
    return this.tails().cwd;
  }
  get openHow(): { flags: number; mode: number; resolve: number } | null {
    return this.tails().openHow;
  }
  get data(): Buffer | null {
    return this.tails().data;
  }
  get env(): readonly string[] | null {
    return this.tails().env;
  }
  get latencyNs(): number | null {
    const e = this.tails().enterTs;
    return e >= 0 && e <= this.ts ? this.ts - e : null;
  }
  get fileInfo(): FileInfo | null {
    return this.tails().fileInfo;
  }
  get pollFds(): readonly PollFd[] | null {
    return this.tails().pollFds;
  }
}

/** Argument `i` of an event as an unsigned 32-bit integer (no 64-bit value for a view). */
export function argU32(ev: SyscallEvent, i: number): number {
  return ev instanceof SyscallView ? ev.argUint(i) : Number(BigInt.asUintN(32, ev.args[i] ?? 0n));
}

/** Argument `i` as a signed 32-bit integer. */
export function argI32(ev: SyscallEvent, i: number): number {
  return ev instanceof SyscallView ? ev.argInt(i) : Number(BigInt.asIntN(32, ev.args[i] ?? 0n));
}
