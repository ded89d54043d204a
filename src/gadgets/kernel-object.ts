/**
 * A gadget's own kernel programs (src/gadgets/<dir>/program.bpf.c, built to
 * bpf/.output/gadget-<dir>.bpf.o): open, configure, load, attach with fallbacks, drain the
 * event ring, keep the container selection's cgroup map current, count lost
 * records. The parts every program shares are in bpf/include/ln_gadget.h; this is their user
 * side, so a gadget's source only chooses programs, attaches them and decodes its records.
 */
import { LN_GHDR } from "../capture/abi.generated.js";
import { selectionVerdict } from "../capture/capture-session.js";
import { probeProgram } from "../capture/features.js";
import { bpfObjectPath } from "../capture/paths.js";
import { LannerError, errorMessage } from "../errors.js";
import {
  BpfObject,
  clockOffsets,
  nextRecordOffset,
  RECORD_HEADER_SIZE,
  type AttachSpec,
  type BpfLink,
  type RingReader,
} from "../native/index.js";
import type { GadgetRecord, KernelFilter, SourceEvent } from "./gadget.js";

/** The common header of a gadget record (struct ln_ghdr), decoded. */
export interface GadgetHeader {
  /** boot-time ns */
  readonly ts: number;
  readonly mntns: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  readonly kind: number;
  readonly comm: string;
}

/** A NUL-terminated string of at most `max` bytes at `off`. */
export function cString(buf: Buffer, off: number, max: number): string {
  const end = buf.indexOf(0, off);
  const stop = end < 0 || end > off + max ? off + max : end;
  return buf.toString("utf8", off, stop);
}

export function readHeader(buf: Buffer, off: number): GadgetHeader {
  return {
    ts: Number(buf.readBigUInt64LE(off + LN_GHDR.TS)),
    mntns: buf.readBigUInt64LE(off + LN_GHDR.MNTNS),
    cgroupId: buf.readBigUInt64LE(off + LN_GHDR.CGROUP_ID),
    pid: buf.readUInt32LE(off + LN_GHDR.PID),
    tid: buf.readUInt32LE(off + LN_GHDR.TID),
    ppid: buf.readUInt32LE(off + LN_GHDR.PPID),
    uid: buf.readUInt32LE(off + LN_GHDR.UID),
    gid: buf.readUInt32LE(off + LN_GHDR.GID),
    kind: buf.readUInt32LE(off + LN_GHDR.KIND),
    comm: cString(buf, off + LN_GHDR.COMM, 16),
  };
}

/**
 * A source event for a record's header: the process as the kernel saw it (its name, parent,
 * user and group win over what enrichment would look up later, when it may be gone).
 */
export function headerEvent(h: GadgetHeader, fields: GadgetRecord): SourceEvent {
  return {
    pid: h.pid,
    tid: h.tid,
    cgroupId: h.cgroupId,
    ts: h.ts,
    fields: {
      "proc.name": h.comm,
      "proc.ppid": h.ppid,
      "user.uid": h.uid,
      "group.gid": h.gid,
      ...fields,
    },
  };
}

export interface GadgetObjectOptions {
  /** the gadget's folder name (src/gadgets/<dir>) */
  readonly dir: string;
  /** the selection's verdicts: the object drops the namespaces it marks in the kernel */
  readonly kernelFilter: KernelFilter;
  /** ring bytes (power of two); default 4 MiB */
  readonly ringBytes?: number;
  /** programs to load (default: all); the rest are left out before load */
  readonly programs?: (name: string) => boolean;
  /** extra `const volatile` values, written before load */
  readonly globals?: Readonly<Record<string, Buffer>>;
  /** map sizes, set before load */
  readonly maxEntries?: Readonly<Record<string, number>>;
  /** one record: `buf[off, off+len)` is valid during the call only */
  readonly onRecord?: (buf: Buffer, off: number, len: number) => void;
  /** drain period (ms) */
  readonly pollMs?: number;
}

/** What was attached, for the readiness line and `doctor`. */
export interface Attached {
  readonly program: string;
  readonly target: string;
  readonly how: string;
}

export function u8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** Whether this kernel loads BTF tracepoint programs (else raw tracepoints are used). */
export function hasTpBtf(): boolean {
  return probeProgram("probe_tp_btf", "prog:tp_btf", "gadget programs (BTF tracepoints)", true).ok;
}

export class GadgetObject {
  readonly obj: BpfObject;
  readonly attached: Attached[] = [];
  private readonly links: BpfLink[] = [];
  private ring: RingReader | null = null;
  private unsubscribe: (() => void) | null = null;
  private closed = false;
  /** add to a record's boot-time ns to get wall-clock ns */
  readonly bootToWallNs: bigint;

  private constructor(obj: BpfObject) {
    this.obj = obj;
    const c = clockOffsets();
    this.bootToWallNs = c.realtimeNs - c.boottimeNs;
  }

  /** Opens, configures and loads the object; throws a LannerError naming the step. */
  static load(opts: GadgetObjectOptions): GadgetObject {
    const path = bpfObjectPath(`gadget-${opts.dir}`);
    let obj: BpfObject;
    try {
      obj = BpfObject.open(path);
    } catch (e) {
      throw new LannerError("EGADGET", `opening ${path}: ${errorMessage(e)} (run 'make' to build it)`, {
        cause: e,
      });
    }
    const g = new GadgetObject(obj);
    try {
      if (opts.programs !== undefined) for (const p of obj.programs()) p.setAutoload(opts.programs(p.name));
      obj.setGlobal("lng_self_tgid", u32(process.pid));
      if (opts.kernelFilter.active) obj.setGlobal("lng_filter_cgroup", u8(1));
      for (const [k, v] of Object.entries(opts.globals ?? {})) obj.setGlobal(k, v);
      obj.setMaxEntries("lng_events", opts.ringBytes ?? 4 << 20);
      for (const [k, v] of Object.entries(opts.maxEntries ?? {})) obj.setMaxEntries(k, v);
      obj.load();
    } catch (e) {
      obj.close();
      throw new LannerError("EGADGET", `loading ${path}: ${errorMessage(e)}`, { cause: e });
    }
    if (opts.kernelFilter.active) {
      const key = Buffer.alloc(8);
      const pass = selectionVerdict(true);
      const drop = selectionVerdict(false);
      g.unsubscribe = opts.kernelFilter.onVerdict((cgroup, ok) => {
        if (g.closed) return;
        key.writeBigUInt64LE(cgroup);
        try {
          if (ok === undefined) obj.mapDelete("lng_cgsel", key);
          else obj.mapUpdate("lng_cgsel", key, ok ? pass : drop);
        } catch {
          // a full map: the cgroup's records reach user space, which filters them
        }
      });
    }
    const onRecord = opts.onRecord;
    if (onRecord !== undefined) {
      g.ring = obj.ringBuffer("lng_events", {
        batchBytes: 1 << 20,
        pollMs: opts.pollMs ?? 10,
        onBatch: (bytes, _records, batch) => {
          let off = 0;
          while (off + RECORD_HEADER_SIZE <= bytes) {
            const len = batch.readUInt32LE(off);
            if (len > 0 && off + RECORD_HEADER_SIZE + len <= bytes)
              onRecord(batch, off + RECORD_HEADER_SIZE, len);
            off = nextRecordOffset(off, len);
          }
        },
      });
    }
    return g;
  }

  /**
   * Attaches the first alternative the kernel accepts; each alternative names a loaded
   * program and how to attach it. Throws a LannerError listing why each one failed.
   */
  attach(
    target: string,
    alternatives: readonly { program: string; spec?: AttachSpec; how: string }[],
  ): Attached {
    const reasons: string[] = [];
    for (const a of alternatives) {
      if (!this.obj.hasProgram(a.program) || !this.obj.program(a.program).autoload) continue;
      try {
        this.links.push(this.obj.attach(a.program, a.spec ?? { kind: "auto" }));
        const done = { program: a.program, target, how: a.how };
        this.attached.push(done);
        return done;
      } catch (e) {
        reasons.push(`${a.how}: ${errorMessage(e).split("\n")[0] ?? ""}`);
      }
    }
    throw new LannerError(
      "EGADGET",
      `attaching to ${target}: ${reasons.join("; ") || "no program loaded for it"}`,
    );
  }

  /** Records the kernel could not put in the ring since load. */
  lost(): number {
    const m = this.obj.map("lng_lost");
    const v = Buffer.alloc(m.valueBufferSize);
    if (!m.lookup(u32(0), v)) return 0;
    let n = 0;
    for (const c of m.perCpuValues(v)) n += Number(c.readBigUInt64LE(0));
    return n;
  }

  /** Delivers what is in the ring now. */
  drain(): void {
    this.ring?.drain();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const l of this.links) l.close();
    this.obj.close();
  }
}
