/**
 * Zero-allocation access to raw records in a batch buffer filled by the native ring
 * reader. A RecordView is a flyweight: walkBatch points it at one record after another;
 * getters read the fields on demand with the offsets generated from the ABI header.
 *
 * walkBatch hands out only records whose framing is sound (`recordValid`): the fixed part of
 * its kind is there, the tail chain ends exactly at the record's end, and fixed-size tails
 * have their size. So the fixed-offset getters below, and any tail reader that stays within
 * a tail's own length, never read outside the record. Corrupt records are counted and
 * skipped; the rest of the batch is still delivered.
 */
import {
  LN_FILE_INFO,
  LN_HDR,
  LN_KIND,
  LN_OPEN_HOW,
  LN_POLLFD,
  LN_PROC,
  LN_SOCK_TUPLE,
  LN_SYSCALL,
  LN_TAIL_KIND,
} from "../capture/abi.generated.js";

/** Batch framing written by the addon: u32 record length, u32 zero, record, pad to 8. */
export const FRAME_HEADER = 8;

export const KIND_SYSCALL = LN_KIND.LN_K_SYSCALL;
export const KIND_FORK = LN_KIND.LN_K_FORK;
export const KIND_EXEC = LN_KIND.LN_K_EXEC;
export const KIND_EXIT = LN_KIND.LN_K_EXIT;

const TWO32 = 4294967296;

/** Size of the fixed part of each record kind; 0 for kinds this decoder does not know. */
const FIXED = new Uint16Array(8);
FIXED[KIND_SYSCALL] = LN_SYSCALL.SIZEOF;
FIXED[KIND_FORK] = LN_PROC.SIZEOF;
FIXED[KIND_EXEC] = LN_PROC.SIZEOF;
FIXED[KIND_EXIT] = LN_PROC.SIZEOF;

/**
 * Payload size of the tail kinds the kernel writes whole or not at all (0: variable). A
 * tail of such a kind with another length is corrupt. LN_T_POLLFDS must be a whole number
 * of entries.
 */
const TAIL_SIZE = new Uint16Array(256);
TAIL_SIZE[LN_TAIL_KIND.LN_T_TUPLE] = LN_SOCK_TUPLE.SIZEOF;
TAIL_SIZE[LN_TAIL_KIND.LN_T_FDS] = 8;
TAIL_SIZE[LN_TAIL_KIND.LN_T_OPEN_HOW] = LN_OPEN_HOW.SIZEOF;
TAIL_SIZE[LN_TAIL_KIND.LN_T_FILE] = LN_FILE_INFO.SIZEOF;
TAIL_SIZE[LN_TAIL_KIND.LN_T_ENTER_TS] = 8;
const POLLFDS = LN_TAIL_KIND.LN_T_POLLFDS;

/** kind and size (one u32 at LN_HDR.KIND) of a syscall record without tails */
const FAST_KIND_SIZE = KIND_SYSCALL | (LN_SYSCALL.SIZEOF << 16);

/**
 * Whether the record the view points at is sound: inside its buffer, at least its
 * header, a known kind, `h.size` equal to the framed length, the fixed part of its kind,
 * `ntails` tails that end exactly at the record's end, fixed-size tails of their size.
 */
export function recordValid(v: RecordView): boolean {
  const off = v.off;
  const len = v.len;
  if (!(off >= 0 && len >= LN_HDR.SIZEOF && off + len <= v.buf.length)) return false;
  return sound(v.dv, off, len);
}

/** recordValid for a record known to lie inside the buffer and to hold a header. */
function sound(dv: DataView, off: number, len: number): boolean {
  if (dv.getUint16(off + LN_HDR.SIZE, true) !== len) return false;
  const kind = dv.getUint16(off + LN_HDR.KIND, true);
  const fixed = kind < FIXED.length ? (FIXED[kind] as number) : 0;
  if (fixed === 0 || len < fixed) return false;
  const n = dv.getUint8(off + LN_HDR.NTAILS);
  const end = off + len;
  let o = off + fixed;
  for (let i = 0; i < n; i++) {
    if (o + 4 > end) return false;
    const tl = dv.getUint16(o, true);
    const tk = dv.getUint8(o + 2);
    const want = TAIL_SIZE[tk] ?? 0;
    if (want !== 0 ? tl !== want : tk === POLLFDS && tl % LN_POLLFD.SIZEOF !== 0) return false;
    o += 4 + tl;
  }
  return o === end;
}

/**
 * Walks one batch from the ring reader, pointing `view` at each sound record in turn and
 * calling `cb` with it: no allocation per record. Returns how many corrupt records were
 * skipped (also added to `view.corrupt`). A frame whose length runs past the batch ends the
 * walk (nothing after it can be found) and counts as one.
 */
export function walkBatch(
  view: RecordView,
  batch: Buffer,
  bytes: number,
  cb: (view: RecordView) => void,
): number {
  view.reset(batch);
  const dv = view.dv;
  const limit = bytes < batch.length ? bytes : batch.length;
  let off = 0;
  let bad = 0;
  while (off + FRAME_HEADER <= limit) {
    const len = dv.getUint32(off, true);
    const start = off + FRAME_HEADER;
    if (len > limit - start) {
      bad++;
      off = limit;
      break;
    }
    view.off = start;
    view.len = len;
    // the common record first: a syscall without tails (one u32 read: kind and size)
    if (
      len >= LN_HDR.SIZEOF &&
      ((dv.getUint32(start + LN_HDR.KIND, true) === FAST_KIND_SIZE &&
        len === LN_SYSCALL.SIZEOF &&
        dv.getUint8(start + LN_HDR.NTAILS) === 0) ||
        sound(dv, start, len))
    )
      cb(view);
    else bad++;
    off = start + len + ((8 - (len % 8)) % 8);
  }
  if (off < limit) bad++; // trailing bytes too short for a frame header
  view.corrupt += bad;
  return bad;
}

export class RecordView {
  dv: DataView;
  buf: Buffer;
  /** offset of the record (its ln_hdr) in the batch */
  off = 0;
  /** record length as framed by the ring */
  len = 0;
  /** corrupt records walkBatch skipped with this view */
  corrupt = 0;

  constructor(buf: Buffer = Buffer.alloc(0)) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Re-targets the view at another batch buffer (when the reader swaps buffers). */
  reset(buf: Buffer): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
  }

  get kind(): number {
    return this.dv.getUint16(this.off + LN_HDR.KIND, true);
  }
  /** bpf_ktime_get_boot_ns() of the record, exact while below 2^53 ns (104 days of uptime) */
  get ts(): number {
    const o = this.off + LN_HDR.TS;
    return this.dv.getUint32(o + 4, true) * TWO32 + this.dv.getUint32(o, true);
  }
  get tsBig(): bigint {
    return this.dv.getBigUint64(this.off + LN_HDR.TS, true);
  }
  get tgid(): number {
    return this.dv.getUint32(this.off + LN_HDR.TGID, true);
  }
  get tid(): number {
    return this.dv.getUint32(this.off + LN_HDR.TID, true);
  }
  get cpu(): number {
    return this.dv.getUint16(this.off + LN_HDR.CPU, true);
  }
  get ntails(): number {
    return this.dv.getUint8(this.off + LN_HDR.NTAILS);
  }
  get flags(): number {
    return this.dv.getUint8(this.off + LN_HDR.FLAGS);
  }
  /** size the record claims for itself (header + fixed part + tails) */
  get size(): number {
    return this.dv.getUint16(this.off + LN_HDR.SIZE, true);
  }

  // --- LN_K_SYSCALL ---
  get nr(): number {
    return this.dv.getUint32(this.off + LN_SYSCALL.NR, true);
  }
  /** return value; exact for every errno and fd, and for values below 2^53 */
  get ret(): number {
    const o = this.off + LN_SYSCALL.RET;
    return this.dv.getInt32(o + 4, true) * TWO32 + this.dv.getUint32(o, true);
  }
  get euid(): number {
    return this.dv.getUint32(this.off + LN_SYSCALL.EUID, true);
  }
  get egid(): number {
    return this.dv.getUint32(this.off + LN_SYSCALL.EGID, true);
  }
  /** argument i as a signed 32-bit int (fds, flags, modes, uids, signals) */
  argInt(i: number): number {
    return this.dv.getInt32(this.off + LN_SYSCALL.ARGS + i * 8, true);
  }
  /** argument i as an unsigned 32-bit int */
  argUint(i: number): number {
    return this.dv.getUint32(this.off + LN_SYSCALL.ARGS + i * 8, true);
  }
  /** argument i as a full 64-bit value */
  argBig(i: number): bigint {
    return this.dv.getBigUint64(this.off + LN_SYSCALL.ARGS + i * 8, true);
  }
  get syscallCgroupId(): bigint {
    return this.dv.getBigUint64(this.off + LN_SYSCALL.CGROUP_ID, true);
  }

  /** offset of the first tail blob */
  tailsStart(): number {
    return this.off + (this.kind === KIND_SYSCALL ? LN_SYSCALL.SIZEOF : LN_PROC.SIZEOF);
  }
}
