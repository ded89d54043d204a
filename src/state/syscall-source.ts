/**
 * What the state reads from a syscall record, over either a raw record in the ring batch
 * (RecordView: nothing is decoded but the tails the state asks for) or an already decoded
 * SyscallEvent. One reusable instance of each: no allocation per record beyond the strings
 * and tuples the state keeps.
 */
import { LN_OPEN_HOW, LN_TAIL_KIND } from "../capture/abi.generated.js";
import type { SyscallEvent } from "../decode/event.js";
import type { RecordView } from "../decode/record-view.js";
import { parseSockaddr, parseTuple, type SockAddr, type SockTuple } from "../decode/sockaddr.js";

export interface SyscallSource {
  readonly tgid: number;
  readonly tid: number;
  readonly nr: number;
  readonly ret: number;
  argInt(i: number): number;
  argUint(i: number): number;
  /** LN_T_PATH of argument `arg` */
  path(arg: number): string | undefined;
  /** True when LN_T_PATH of `arg` is exactly `s` (compared without making a string). */
  pathIs(arg: number, s: string): boolean;
  /** LN_T_DIR of argument `arg` */
  dir(arg: number): string | undefined;
  /** LN_T_FDPATH of argument `arg` (LN_ARG_RET for a returned fd) */
  fdPath(arg: number): string | undefined;
  tuple(): SockTuple | null;
  sockaddr(arg: number): SockAddr | undefined;
  /** LN_T_FDS: first fd, or -1 */
  fd0(): number;
  /** LN_T_FDS: second fd, or -1 */
  fd1(): number;
  cwd(): string | null;
  /** u32 at `off` of the LN_T_DATA tail, or -1 when the tail is shorter */
  dataU32(off: number): number;
  /** openat2's open_how.flags (low 32 bits), 0 when absent */
  openHowFlags(): number;
}

function cstr(buf: Buffer, start: number, len: number): string {
  let end = start + len;
  if (end > start && buf[end - 1] === 0) end--;
  return buf.toString("utf8", start, end);
}

/** A raw record: tails are found by scanning (records have at most a handful). */
export class ViewSource implements SyscallSource {
  private v: RecordView | null = null;
  private end = 0;
  /** length of the tail the last find() returned */
  private tlen = 0;

  set(v: RecordView): this {
    this.v = v;
    this.end = v.off + Math.min(v.len, v.size);
    return this;
  }

  private get view(): RecordView {
    return this.v as RecordView;
  }
  get tgid(): number {
    return this.view.tgid;
  }
  get tid(): number {
    return this.view.tid;
  }
  get nr(): number {
    return this.view.nr;
  }
  get ret(): number {
    return this.view.ret;
  }
  argInt(i: number): number {
    return this.view.argInt(i);
  }
  argUint(i: number): number {
    return this.view.argUint(i);
  }

  /** Offset of the data of the first tail of `kind` (and `arg`, unless -1), or -1. */
  private find(kind: number, arg: number): number {
    const v = this.view;
    const dv = v.dv;
    let o = v.tailsStart();
    const n = v.ntails;
    for (let i = 0; i < n && o + 4 <= this.end; i++) {
      const len = dv.getUint16(o, true);
      const start = o + 4;
      if (start + len > this.end) return -1; // malformed: never read past the record
      if (dv.getUint8(o + 2) === kind && (arg < 0 || dv.getUint8(o + 3) === arg)) {
        this.tlen = len;
        return start;
      }
      o = start + len;
    }
    return -1;
  }

  private str(kind: number, arg: number): string | undefined {
    const o = this.find(kind, arg);
    return o < 0 ? undefined : cstr(this.view.buf, o, this.tlen);
  }

  path(arg: number): string | undefined {
    return this.str(LN_TAIL_KIND.LN_T_PATH, arg);
  }
  pathIs(arg: number, s: string): boolean {
    const o = this.find(LN_TAIL_KIND.LN_T_PATH, arg);
    if (o < 0) return false;
    const buf = this.view.buf;
    let len = this.tlen;
    if (len > 0 && buf[o + len - 1] === 0) len--;
    if (len !== s.length) return false;
    // from the end: paths that differ mostly differ in their last component
    for (let i = len - 1; i >= 0; i--) {
      const b = buf[o + i] as number;
      if (b >= 0x80 || b !== s.charCodeAt(i)) return false; // non-ASCII: take the slow path
    }
    return true;
  }
  dir(arg: number): string | undefined {
    return this.str(LN_TAIL_KIND.LN_T_DIR, arg);
  }
  fdPath(arg: number): string | undefined {
    return this.str(LN_TAIL_KIND.LN_T_FDPATH, arg);
  }
  tuple(): SockTuple | null {
    const o = this.find(LN_TAIL_KIND.LN_T_TUPLE, -1);
    return o < 0 || this.tlen < 8 ? null : parseTuple(this.view.dv, o);
  }
  sockaddr(arg: number): SockAddr | undefined {
    const o = this.find(LN_TAIL_KIND.LN_T_SOCKADDR, arg);
    return o < 0 ? undefined : (parseSockaddr(this.view.buf, o, this.tlen) ?? undefined);
  }
  fd0(): number {
    const o = this.find(LN_TAIL_KIND.LN_T_FDS, -1);
    return o < 0 || this.tlen < 8 ? -1 : this.view.dv.getInt32(o, true);
  }
  fd1(): number {
    const o = this.find(LN_TAIL_KIND.LN_T_FDS, -1);
    return o < 0 || this.tlen < 8 ? -1 : this.view.dv.getInt32(o + 4, true);
  }
  cwd(): string | null {
    return this.str(LN_TAIL_KIND.LN_T_CWD, -1) ?? null;
  }
  dataU32(off: number): number {
    const o = this.find(LN_TAIL_KIND.LN_T_DATA, -1);
    return o < 0 || this.tlen < off + 4 ? -1 : this.view.dv.getUint32(o + off, true);
  }
  openHowFlags(): number {
    const o = this.find(LN_TAIL_KIND.LN_T_OPEN_HOW, -1);
    return o < 0 || this.tlen < LN_OPEN_HOW.SIZEOF ? 0 : this.view.dv.getUint32(o + LN_OPEN_HOW.FLAGS, true);
  }
}

/** A decoded event. */
export class EventSource implements SyscallSource {
  private e: SyscallEvent | null = null;

  set(ev: SyscallEvent): this {
    this.e = ev;
    return this;
  }
  private get ev(): SyscallEvent {
    return this.e as SyscallEvent;
  }
  get tgid(): number {
    return this.ev.tgid;
  }
  get tid(): number {
    return this.ev.tid;
  }
  get nr(): number {
    return this.ev.nr;
  }
  get ret(): number {
    return this.ev.ret;
  }
  argInt(i: number): number {
    return Number(BigInt.asIntN(32, this.ev.args[i] ?? 0n));
  }
  argUint(i: number): number {
    return Number(BigInt.asUintN(32, this.ev.args[i] ?? 0n));
  }
  path(arg: number): string | undefined {
    return this.ev.paths.get(arg);
  }
  pathIs(arg: number, s: string): boolean {
    return this.ev.paths.get(arg) === s;
  }
  dir(arg: number): string | undefined {
    return this.ev.dirs.get(arg);
  }
  fdPath(arg: number): string | undefined {
    return this.ev.fdPaths.get(arg);
  }
  tuple(): SockTuple | null {
    return this.ev.tuple;
  }
  sockaddr(arg: number): SockAddr | undefined {
    return this.ev.sockaddrs.get(arg);
  }
  fd0(): number {
    return this.ev.fds?.[0] ?? -1;
  }
  fd1(): number {
    return this.ev.fds?.[1] ?? -1;
  }
  cwd(): string | null {
    return this.ev.cwd;
  }
  dataU32(off: number): number {
    const d = this.ev.data;
    return d === null || d.length < off + 4 ? -1 : d.readUInt32LE(off);
  }
  openHowFlags(): number {
    return (this.ev.openHow?.flags ?? 0) >>> 0;
  }
}
