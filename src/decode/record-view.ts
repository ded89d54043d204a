/**
 * Zero-allocation access to raw records in a batch buffer filled by the native ring
 * reader. A RecordView is a flyweight: `at()` points it at one record; getters read the
 * fields on demand with the offsets generated from the ABI header.
 */
import { LN_HDR, LN_KIND, LN_PROC, LN_SYSCALL } from "../capture/abi.generated.js";

/** Batch framing written by the addon: u32 record length, u32 zero, record, pad to 8. */
export const FRAME_HEADER = 8;

export const KIND_SYSCALL = LN_KIND.LN_K_SYSCALL;
export const KIND_FORK = LN_KIND.LN_K_FORK;
export const KIND_EXEC = LN_KIND.LN_K_EXEC;
export const KIND_EXIT = LN_KIND.LN_K_EXIT;

const TWO32 = 4294967296;

/**
 * Walks one batch from the ring reader, pointing `view` at each record in turn and calling
 * `cb` with it: no allocation per record.
 */
export function walkBatch(
  view: RecordView,
  batch: Buffer,
  bytes: number,
  cb: (view: RecordView) => void,
): void {
  view.reset(batch);
  let off = 0;
  while (off + FRAME_HEADER <= bytes) {
    const len = batch.readUInt32LE(off);
    view.off = off + FRAME_HEADER;
    view.len = len;
    cb(view);
    off += FRAME_HEADER + ((len + 7) & ~7);
  }
}

export class RecordView {
  dv: DataView;
  buf: Buffer;
  /** offset of the record (its ln_hdr) in the batch */
  off = 0;
  /** record length as framed by the ring */
  len = 0;

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
