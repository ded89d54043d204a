/**
 * A capture session: opens bpf/.output/capture.bpf.o, writes the configuration
 * (const volatile data, ring size, syscall selection), loads it, attaches each program
 * through a fallback chain, and delivers raw records in batches to a callback.
 *
 * Two modes (see shared research, capture-limits.md):
 * - `selected`: per-syscall tracepoints (syscalls/sys_exit_<name>, plus sys_enter_<name>
 *   for the TOCTOU reads); syscalls outside the set never run a program.
 * - `all`: tp_btf (fallback raw_tracepoint) on sys_enter/sys_exit, every syscall.
 * Lifecycle (fork/exec/exit) is always attached: state tracking needs it.
 */
import { LannerError, errorMessage } from "../errors.js";
import { BpfObject, type BpfLink, type RingReader, clockOffsets, numPossibleCpus } from "../native/index.js";
import { LN_CONST, LN_STAT } from "./abi.generated.js";
import { ENTER_SYSCALLS, syscallName, syscallNr } from "./syscalls.js";
import { probeProgram, tracefsRoot, tracepointExists } from "./features.js";
import { bpfObjectPath } from "./paths.js";

export type CaptureMode = "all" | "selected";

export interface CaptureOptions {
  /** `all`, or the syscall names to emit */
  readonly syscalls: "all" | readonly string[];
  /** only this process (0: the whole node) */
  readonly filterPid?: number;
  /** ring buffer bytes (power of two); default 16 MiB */
  readonly ringBytes?: number;
  /** bytes per JS batch; default 1 MiB */
  readonly batchBytes?: number;
  /** drain timer (ms); the latency bound; default 10 */
  readonly pollMs?: number;
  /** force a wakeup when pending data is over this many bytes; default ring/4 */
  readonly wakeupBytes?: number;
  /**
   * threads whose entry-time data (paths, sockaddrs) the kernel keeps; default 2048. A thread
   * keeps its slot between syscalls; the least recently used is evicted when more threads
   * than this are in stashed syscalls at once (counted as enter misses).
   */
  readonly stashEntries?: number;
  /**
   * bytes of sendto/recvfrom payload each record carries (evt.buffer), at most 256; default 0.
   * Falco captures 80 by default.
   */
  readonly snaplen?: number;
  /**
   * Filter by cgroup in the kernel (a gadget's container selection): records of the cgroups
   * `setCgroupVerdict` marks "drop" are not made; unknown cgroups pass.
   */
  readonly cgroupFilter?: boolean;
  /**
   * Called once per batch of raw records, synchronously; `batch` is reused after the call.
   * Framing: u32 record length, u32 zero, record, padding to 8 (decode/ walks it). It may
   * return how many corrupt records it skipped (what decode's walkBatch returns): they are
   * counted in `stats().corrupt`.
   */
  readonly onBatch: (batch: Buffer, bytes: number, records: number) => void | number;
  /**
   * Open path prefixes (`trace open --prefixes`): the kernel makes the records of open,
   * openat, openat2 and creat only when the absolute path starts with one of these (text
   * prefixes, at most OPEN_PREFIXES_MAX of at most OPEN_PREFIX_BYTES bytes each); paths with
   * "." or ".." components are passed for user space to check. Default: none (every open).
   */
  readonly openPrefixes?: readonly string[];
  /** force a mode (default: `all` for "all", else `selected`) */
  readonly mode?: CaptureMode;
  /** BPF object path (tests) */
  readonly objectPath?: string;
  /** program types not to use even if the kernel has them (e.g. `tp_btf`), to force a fallback */
  readonly avoid?: readonly ("tp_btf" | "tracepoint")[];
}

export interface AttachDecision {
  /** what was attached, e.g. `ln_exit_tp -> syscalls/sys_exit_openat` */
  readonly what: string;
  readonly how: string;
}

export interface Fallback {
  readonly wanted: string;
  readonly used: string;
  readonly reason: string;
}

export interface CaptureReport {
  readonly mode: CaptureMode;
  readonly syscalls: readonly string[] | "all";
  readonly attached: readonly AttachDecision[];
  readonly fallbacks: readonly Fallback[];
  /** selected syscalls with nothing to attach to, and why */
  readonly skipped: readonly { syscall: string; reason: string }[];
  readonly ringBytes: number;
  readonly pollMs: number;
  readonly wakeupBytes: number;
}

export interface CaptureStats {
  /** records lost because the ring was full, by CPU */
  dropRingByCpu: number[];
  dropRing: number;
  dropScratch: number;
  truncated: number;
  readFailures: number;
  enterMisses: number;
  wakeups: number;
  /** records delivered to JS */
  delivered: number;
  batches: number;
  /**
   * delivered records the consumer found corrupt and skipped (what its onBatch returned:
   * walkBatch's count); always set by CaptureSession.stats()
   */
  corrupt: number;
}

const SYSCALL_LIFECYCLE = [
  { btf: "ln_fork_btf", raw: "ln_fork_raw", tp: "sched_process_fork" },
  { btf: "ln_exec_btf", raw: "ln_exec_raw", tp: "sched_process_exec" },
  { btf: "ln_exit_proc_btf", raw: "ln_exit_proc_raw", tp: "sched_process_exit" },
] as const;

const MAX_SYSCALL_NR = 512;

/** ln_interest's bits (capture.bpf.c): every process; gadget slots 1..GADGET_SLOTS. */
const INTEREST_EVERY = 1;
/** Gadget slots the kernel has (bits 1..7 of ln_interest and ln_cgslot). */
export const GADGET_SLOTS = 7;

/** Syscalls whose tracepoint carries the kernel's SYSCALL_DEFINE name, not the libc one. */
const TRACEPOINT_ALIAS: Readonly<Record<string, string>> = { umount2: "umount" };
const tracepointName = (syscall: string): string => TRACEPOINT_ALIAS[syscall] ?? syscall;

/** The value of a selection map entry (LN_SEL_PASS or LN_SEL_DROP). */
export function selectionVerdict(pass: boolean): Buffer {
  return Buffer.from([pass ? LN_CONST.LN_C_SEL_PASS : LN_CONST.LN_C_SEL_DROP]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** How many open path prefixes the kernel holds (capture.bpf.c's LN_OPEN_PREFIXES). */
export const OPEN_PREFIXES_MAX = 16;
/** Bytes of one open path prefix at most (capture.bpf.c's LN_PREFIX_LEN). */
export const OPEN_PREFIX_BYTES = 128;

/**
 * The kernel's open prefix configuration (open_prefix_count, open_prefix_len,
 * open_prefix_text); throws a LannerError naming a prefix it cannot hold.
 */
export function openPrefixGlobals(prefixes: readonly string[]): { count: Buffer; len: Buffer; text: Buffer } {
  if (prefixes.length > OPEN_PREFIXES_MAX)
    throw new LannerError("EINVAL", `open prefixes: at most ${OPEN_PREFIXES_MAX}, got ${prefixes.length}`);
  const len = Buffer.alloc(4 * OPEN_PREFIXES_MAX);
  const text = Buffer.alloc(OPEN_PREFIX_BYTES * OPEN_PREFIXES_MAX);
  prefixes.forEach((p, i) => {
    const b = Buffer.from(p, "utf8");
    if (b.length === 0 || b.length > OPEN_PREFIX_BYTES || b.includes(0))
      throw new LannerError(
        "EINVAL",
        `open prefix '${p}': expected 1 to ${OPEN_PREFIX_BYTES} bytes without NUL, got ${b.length}`,
      );
    len.writeUInt32LE(b.length, 4 * i);
    b.copy(text, OPEN_PREFIX_BYTES * i);
  });
  return { count: u32(prefixes.length), len, text };
}

/** Resolves syscall names to numbers; unknown names are a clear error. */
export function resolveSyscalls(names: readonly string[]): number[] {
  const out: number[] = [];
  const unknown: string[] = [];
  for (const n of names) {
    const nr = syscallNr(n);
    if (nr === undefined) unknown.push(n);
    else out.push(nr);
  }
  if (unknown.length) {
    throw new LannerError(
      "EUNKNOWNSYSCALL",
      `unknown syscall name${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`,
    );
  }
  return out;
}

export class CaptureSession {
  private obj: BpfObject | null;
  private readonly links: BpfLink[] = [];
  /** per-syscall tracepoint links (selected mode), so a reload can detach them */
  private readonly syscallLinks = new Map<string, BpfLink[]>();
  /** the syscall names currently selected for every process (bit 0) */
  private selection: string[] = [];
  /** per syscall number: ln_interest's value (bit 0: every process; bits 1..7: slots) */
  private readonly masks = new Uint8Array(MAX_SYSCALL_NR);
  /** per slot: its syscall names */
  private readonly slotSyscalls = new Map<number, string[]>();
  /** cgroup id -> the slots that drop it (ln_cgslot) */
  private readonly cgSlots = new Map<bigint, number>();
  private reader: RingReader | null = null;
  private readonly batch: Buffer;
  private readonly onBatchCb: (batch: Buffer, bytes: number, records: number) => void | number;
  private readonly ncpu: number;
  private delivered = 0;
  private batches = 0;
  private corrupt = 0;
  readonly report: CaptureReport;
  /** add to a record's boot-time ns to get wall-clock ns */
  readonly bootToWallNs: bigint;

  private constructor(obj: BpfObject, report: CaptureReport, opts: CaptureOptions, batchBytes: number) {
    this.obj = obj;
    this.report = report;
    this.onBatchCb = opts.onBatch;
    this.batch = Buffer.alloc(batchBytes);
    this.ncpu = numPossibleCpus();
    const c = clockOffsets();
    this.bootToWallNs = c.realtimeNs - c.boottimeNs;
  }

  /** Opens, configures, loads and attaches; throws a LannerError saying what failed. */
  static start(opts: CaptureOptions): CaptureSession {
    const ringBytes = opts.ringBytes ?? 16 << 20;
    const pollMs = opts.pollMs ?? 10;
    const wakeupBytes = opts.wakeupBytes ?? ringBytes / 4;
    const batchBytes = opts.batchBytes ?? 1 << 20;
    const mode: CaptureMode = opts.mode ?? (opts.syscalls === "all" ? "all" : "selected");
    // A successful execveat reports its exit on sys_exit_execve (its record is fixed up to
    // execveat from the entry stash), so execveat brings execve's exit along.
    const names = opts.syscalls === "all" ? null : [...new Set(opts.syscalls)];
    if (names?.includes("execveat") && !names.includes("execve")) names.push("execve");
    const nrs = names === null ? null : resolveSyscalls(names);
    const fallbacks: Fallback[] = [];

    // Choose program flavours by probing (by loading), not by kernel version.
    const avoid = new Set(opts.avoid ?? []);
    const btfProbe = probeProgram("probe_tp_btf", "prog:tp_btf", "", true);
    const useBtf = btfProbe.ok && !avoid.has("tp_btf");
    if (!useBtf) {
      fallbacks.push({
        wanted: "tp_btf",
        used: "raw_tracepoint",
        reason: btfProbe.ok ? "tp_btf avoided by configuration" : (btfProbe.reason ?? "refused"),
      });
    }
    let effMode = mode;
    if (mode === "selected" && avoid.has("tracepoint")) {
      fallbacks.push({
        wanted: "per-syscall tracepoints",
        used: "all-syscalls programs filtered by the interest map",
        reason: "tracepoint programs avoided by configuration",
      });
      effMode = "all";
    }
    const selectedNames = nrs?.map(syscallName) ?? [];
    const skipped: { syscall: string; reason: string }[] = [];
    let tpNames = selectedNames;
    if (effMode === "selected") {
      if (tracefsRoot() === null) {
        fallbacks.push({
          wanted: "per-syscall tracepoints",
          used: "all-syscalls programs filtered by the interest map",
          reason: "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)",
        });
        effMode = "all";
      } else {
        // A syscall without a tracepoint is not built into this kernel (its calls return
        // ENOSYS), so there is nothing to capture: report it, attach the rest.
        tpNames = [];
        for (const n of selectedNames) {
          const tp = tracepointName(n);
          if (tracepointExists("syscalls", `sys_exit_${tp}`)) tpNames.push(n);
          else
            skipped.push({
              syscall: n,
              reason: `no tracepoint syscalls/sys_exit_${tp}: not built into this kernel`,
            });
        }
      }
    }

    const path = opts.objectPath ?? bpfObjectPath("capture");
    const obj = BpfObject.open(path);
    const attached: AttachDecision[] = [];
    try {
      const want = new Set<string>();
      // In all mode, entry stashing goes through per-syscall tracepoints when tracefs is
      // there (measured ~20 % cheaper than a sys_enter program that runs for every syscall).
      const enterViaTp = effMode === "all" && tracefsRoot() !== null && !avoid.has("tracepoint");
      if (effMode === "all") {
        want.add(enterViaTp ? "ln_enter_tp" : useBtf ? "ln_enter_btf" : "ln_enter_raw");
        want.add(useBtf ? "ln_exit_btf" : "ln_exit_raw");
      } else {
        want.add("ln_exit_tp");
        if (selectedNames.some((n) => ENTER_SYSCALLS.includes(n))) want.add("ln_enter_tp");
      }
      for (const l of SYSCALL_LIFECYCLE) want.add(useBtf ? l.btf : l.raw);
      for (const p of obj.programs()) obj.setAutoload(p.name, want.has(p.name));

      obj.setGlobal("self_tgid", u32(process.pid));
      obj.setGlobal("filter_tgid", u32(opts.filterPid ?? 0));
      obj.setGlobal("wakeup_bytes", u64(wakeupBytes));
      if (opts.snaplen !== undefined) obj.setGlobal("snaplen", u32(Math.max(0, Math.min(256, opts.snaplen))));
      if (opts.cgroupFilter === true) obj.setGlobal("filter_cgroup", Buffer.from([1]));
      if (opts.openPrefixes !== undefined && opts.openPrefixes.length > 0) {
        const g = openPrefixGlobals(opts.openPrefixes);
        obj.setGlobal("open_prefix_count", g.count);
        obj.setGlobal("open_prefix_len", g.len);
        obj.setGlobal("open_prefix_text", g.text);
      }
      obj.setMaxEntries("ln_events", ringBytes);
      if (opts.stashEntries !== undefined) obj.setMaxEntries("ln_stash", opts.stashEntries);
      obj.load();

      // The syscall selection, written before anything is attached.
      const on = Buffer.from([INTEREST_EVERY, 0, 0, 0]);
      const key = Buffer.alloc(4);
      const sel = nrs ?? Array.from({ length: MAX_SYSCALL_NR }, (_, i) => i);
      for (const nr of sel) {
        key.writeUInt32LE(nr);
        obj.mapUpdate("ln_interest", key, on.subarray(0, obj.mapInfo("ln_interest").valueSize));
      }

      const session = new CaptureSession(
        obj,
        {
          mode: effMode,
          syscalls: opts.syscalls === "all" ? "all" : selectedNames,
          attached,
          fallbacks,
          skipped,
          ringBytes,
          pollMs,
          wakeupBytes,
        },
        opts,
        batchBytes,
      );
      // Attach: lifecycle first so state sees processes before their syscalls.
      for (const l of SYSCALL_LIFECYCLE) {
        const prog = useBtf ? l.btf : l.raw;
        session.links.push(obj.attach(prog));
        attached.push({ what: `${prog} -> sched/${l.tp}`, how: useBtf ? "tp_btf" : "raw_tracepoint" });
      }
      if (effMode === "all") {
        const how = useBtf ? "tp_btf" : "raw_tracepoint";
        const exitProg = useBtf ? "ln_exit_btf" : "ln_exit_raw";
        session.links.push(obj.attach(exitProg));
        attached.push({ what: `${exitProg} -> raw_syscalls/sys_exit`, how });
        if (enterViaTp) {
          for (const n of ENTER_SYSCALLS) {
            if (!tracepointExists("syscalls", `sys_enter_${n}`)) continue;
            session.links.push(obj.attachTracepoint("ln_enter_tp", "syscalls", `sys_enter_${n}`));
            attached.push({ what: `ln_enter_tp -> syscalls/sys_enter_${n}`, how: "tracepoint" });
          }
        } else {
          const enterProg = useBtf ? "ln_enter_btf" : "ln_enter_raw";
          session.links.push(obj.attach(enterProg));
          attached.push({ what: `${enterProg} -> raw_syscalls/sys_enter`, how });
        }
      } else {
        for (const n of tpNames) session.attachSyscall(n, attached);
      }
      session.selection = selectedNames;
      for (const nr of sel) if (nr < MAX_SYSCALL_NR) session.masks[nr] = INTEREST_EVERY;
      session.reader = obj.openRing(
        "ln_events",
        session.batch,
        (bytes, records) => session.onBatch(bytes, records),
        { pollMs },
      );
      return session;
    } catch (e) {
      obj.close();
      if (e instanceof LannerError) throw e;
      throw new LannerError("ECAPTURE", `starting capture from ${path}: ${errorMessage(e)}`, { cause: e });
    }
  }

  /** Attaches the per-syscall tracepoints of one syscall (selected mode). */
  private attachSyscall(n: string, attached: AttachDecision[]): void {
    const obj = this.obj;
    if (!obj) return;
    const tp = tracepointName(n);
    const links: BpfLink[] = [];
    try {
      if (ENTER_SYSCALLS.includes(n)) {
        links.push(obj.attachTracepoint("ln_enter_tp", "syscalls", `sys_enter_${tp}`));
        attached.push({ what: `ln_enter_tp -> syscalls/sys_enter_${tp}`, how: "tracepoint" });
      }
      links.push(obj.attachTracepoint("ln_exit_tp", "syscalls", `sys_exit_${tp}`));
      attached.push({ what: `ln_exit_tp -> syscalls/sys_exit_${tp}`, how: "tracepoint" });
    } catch (e) {
      for (const l of links) l.close();
      throw e;
    }
    this.syscallLinks.set(n, links);
  }

  /**
   * Whether the records of cgroup `id` are made (`pass`), not made (`drop`), or left to user
   * space again (`forget`). Only with `cgroupFilter`.
   */
  setCgroupVerdict(id: bigint, verdict: "pass" | "drop" | "forget"): void {
    const obj = this.obj;
    if (!obj) return;
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(id);
    if (verdict === "forget") obj.mapDelete("ln_cgsel", key);
    else obj.mapUpdate("ln_cgsel", key, selectionVerdict(verdict === "pass"));
  }

  private setInterest(nr: number, mask: number): void {
    const obj = this.obj;
    if (!obj || nr < 0 || nr >= MAX_SYSCALL_NR) return;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(nr);
    const val = Buffer.alloc(obj.mapInfo("ln_interest").valueSize);
    val[0] = mask;
    obj.mapUpdate("ln_interest", key, val);
    this.masks[nr] = mask;
  }

  /**
   * Sets bit `bit` of the interest mask for `names` and clears it for the other syscalls:
   * a syscall some bit wants is attached (selected mode), one no bit wants any more is
   * detached. Unknown names throw before anything changes.
   */
  private setBit(bit: number, names: readonly string[]): { added: string[]; removed: string[] } {
    const want = [...new Set(names)];
    if (want.includes("execveat") && !want.includes("execve")) want.push("execve");
    const nrs = new Set(resolveSyscalls(want)); // throws on unknown names before anything changes
    const added: string[] = [];
    const removed: string[] = [];
    const attached = this.report.attached as AttachDecision[];
    for (let nr = 0; nr < MAX_SYSCALL_NR; nr++) {
      const old = this.masks[nr] ?? 0;
      const on = nrs.has(nr);
      if (((old & bit) !== 0) === on) continue;
      const mask = on ? old | bit : old & ~bit;
      const n = syscallName(nr);
      if (on) added.push(n);
      else removed.push(n);
      // (a syscall without a tracepoint is not built into this kernel: nothing to attach)
      if (
        old === 0 &&
        this.report.mode === "selected" &&
        tracepointExists("syscalls", `sys_exit_${tracepointName(n)}`)
      )
        this.attachSyscall(n, attached);
      this.setInterest(nr, mask);
      if (mask === 0) {
        for (const l of this.syscallLinks.get(n) ?? []) l.close();
        this.syscallLinks.delete(n);
      }
    }
    return { added, removed };
  }

  /**
   * Changes the syscall selection of a running session (rules reload): attaches what is new,
   * detaches what nothing wants any more, updates the kernel's interest map. Unknown names
   * throw before anything changes. In `all` mode only the interest map changes.
   */
  select(names: readonly string[]): { added: string[]; removed: string[] } {
    const r = this.setBit(INTEREST_EVERY, names);
    this.selection = [...new Set(names)];
    return r;
  }

  /**
   * The syscalls gadget slot `slot` (1..GADGET_SLOTS) wants besides what every process
   * gives: their records are made only for the cgroups the slot does not drop
   * (setSlotCgroup). An empty list frees the slot's syscalls.
   */
  selectForSlot(slot: number, names: readonly string[]): { added: string[]; removed: string[] } {
    if (!Number.isInteger(slot) || slot < 1 || slot > GADGET_SLOTS)
      throw new LannerError("EINVAL", `gadget slot ${slot}: expected 1..${GADGET_SLOTS}`);
    const r = this.setBit(1 << slot, names);
    if (names.length === 0) this.slotSyscalls.delete(slot);
    else this.slotSyscalls.set(slot, [...names]);
    return r;
  }

  /** Whether slot `slot` drops the records of cgroup `id` (its gadget's container selection). */
  setSlotCgroup(slot: number, id: bigint, drop: boolean): void {
    const obj = this.obj;
    if (!obj) return;
    const old = this.cgSlots.get(id) ?? 0;
    const bits = drop ? old | (1 << slot) : old & ~(1 << slot);
    if (bits === old) return;
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(id);
    if (bits === 0) {
      obj.mapDelete("ln_cgslot", key);
      this.cgSlots.delete(id);
    } else {
      obj.mapUpdate("ln_cgslot", key, Buffer.from([bits]));
      this.cgSlots.set(id, bits);
    }
  }

  /** Frees a slot: its syscalls narrow back, its cgroup bits are cleared. */
  freeSlot(slot: number): void {
    this.selectForSlot(slot, []);
    for (const id of [...this.cgSlots.keys()]) this.setSlotCgroup(slot, id, false);
  }

  /** ln_interest's value of a syscall number (tests). */
  interestMask(nr: number): number {
    return this.masks[nr] ?? 0;
  }

  /** cgroups some slot drops (ln_cgslot entries). */
  get slotCgroups(): number {
    return this.cgSlots.size;
  }

  private onBatch(bytes: number, records: number): void {
    this.delivered += records;
    this.batches++;
    const bad = this.onBatchCb(this.batch, bytes, records);
    if (typeof bad === "number") this.corrupt += bad;
  }

  /** Delivers everything pending now (shutdown, tests). */
  drain(): void {
    this.reader?.drain();
  }

  /** Reads the kernel's per-CPU counters and adds what JS has seen. */
  stats(): CaptureStats {
    const s: CaptureStats = {
      dropRingByCpu: new Array<number>(this.ncpu).fill(0),
      dropRing: 0,
      dropScratch: 0,
      truncated: 0,
      readFailures: 0,
      enterMisses: 0,
      wakeups: 0,
      delivered: this.delivered,
      batches: this.batches,
      corrupt: this.corrupt,
    };
    const obj = this.obj;
    if (!obj) return s;
    const key = Buffer.alloc(4);
    const val = Buffer.alloc(8 * this.ncpu);
    const sum = (idx: number, perCpu?: number[]): number => {
      key.writeUInt32LE(idx);
      if (!obj.mapLookup("ln_stats", key, val)) return 0;
      let t = 0;
      for (let c = 0; c < this.ncpu; c++) {
        const v = Number(val.readBigUInt64LE(c * 8));
        if (perCpu) perCpu[c] = v;
        t += v;
      }
      return t;
    };
    s.dropRing = sum(LN_STAT.LN_S_DROP_RING, s.dropRingByCpu);
    s.dropScratch = sum(LN_STAT.LN_S_DROP_SCRATCH);
    s.truncated = sum(LN_STAT.LN_S_TRUNC);
    s.readFailures = sum(LN_STAT.LN_S_READ_FAIL);
    s.enterMisses = sum(LN_STAT.LN_S_ENTER_MISS);
    s.wakeups = sum(LN_STAT.LN_S_WAKEUPS);
    return s;
  }

  /** Detaches everything and frees the object; idempotent. Pending records are drained first. */
  close(): void {
    if (!this.obj) return;
    try {
      this.reader?.drain();
    } catch {
      // closing anyway
    }
    this.reader?.close();
    this.reader = null;
    for (const l of this.links.splice(0)) l.close();
    for (const ls of this.syscallLinks.values()) for (const l of ls) l.close();
    this.syscallLinks.clear();
    this.obj.close();
    this.obj = null;
  }
}
