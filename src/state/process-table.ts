/**
 * The process table: one entry per process (thread group), seeded from /proc at start and
 * kept current from the kernel's fork/exec/exit records; it owns the thread table and each
 * process's fd table. Lookups are Map gets; ancestry walks `ppid` links without allocating.
 *
 * Exited processes stay for a grace period (late events of the process and of its children
 * still find them), then are purged; children of a purged process are re-parented from
 * /proc, as the kernel re-parented them. Bounded: when full, the oldest exited entry goes
 * first, else the oldest inserted; evictions are counted. Nothing here throws on the event
 * path: unreadable /proc entries are counted.
 */
import { LN_CONST } from "../capture/abi.generated.js";
import type { ProcEvent } from "../decode/event.js";
import { FdTable } from "./fd-table.js";
import { ProcReader, type ProcSnapshot } from "./proc-seed.js";
import { ThreadInfo, ThreadTable } from "./thread-table.js";

const PF_THREAD = LN_CONST.LN_C_PF_THREAD;
const PF_GROUP_DEAD = LN_CONST.LN_C_PF_GROUP_DEAD;
/** exe flags a process keeps until its next exec */
const EXE_FLAGS =
  LN_CONST.LN_C_PF_EXE_MEMFD |
  LN_CONST.LN_C_PF_EXE_UPPER |
  LN_CONST.LN_C_PF_EXE_LOWER |
  LN_CONST.LN_C_PF_EXE_DELETED |
  LN_CONST.LN_C_PF_EXE_WRITABLE;
const NO_ARGV: readonly string[] = [];
const NO_ENV: readonly string[] = [];

/** One process. Fixed shape; mutated in place by exec and by syscalls (cwd). */
export class ProcessInfo {
  /** the process's tid in its own pid namespace */
  vpid = 0;
  /** proc.name: the comm (task name, 15 chars) */
  comm = "";
  /** argv as executed; proc.exe is argv[0] */
  argv: readonly string[] = NO_ARGV;
  /** proc.exepath: absolute path of the executable, from the root of the process */
  exepath = "";
  cwd = "";
  uid = 0;
  gid = 0;
  loginuid = 0xffffffff;
  /** session id (host pid namespace) */
  sid = 0;
  /** process group id in the process's pid namespace (0 when its leader is outside it) */
  vpgid = 0;
  /** process group id in the host pid namespace */
  pgid = 0;
  /** controlling terminal, major << 20 | minor; 0 = none */
  tty = 0;
  /** boot-time ns when the process started (0 when unknown) */
  startNs = 0n;
  cgroupId = 0n;
  pidns = 0n;
  netns = 0n;
  mntns = 0n;
  /**
   * LN_PF_EXE_* of the current image: MEMFD, UPPER, LOWER, DELETED, WRITABLE (processes
   * read from /proc: no UPPER/LOWER)
   */
  exeFlags = 0;
  /** proc.env: environment of the current image ("NAME=value", bounded); empty when unknown */
  env: readonly string[] = NO_ENV;
  /** inode number of the executable; 0 when unknown */
  exeIno = 0;
  /** the executable's ctime and mtime, ns since the epoch; 0n when unknown */
  exeCtimeNs = 0n;
  exeMtimeNs = 0n;
  /** boot ns when the init process of its pid namespace started; 0n when unknown */
  pidnsInitStartNs = 0n;
  nthreads = 1;
  /** set (ms) when the last thread exited; purged after the grace period */
  exitedAt = 0;

  constructor(
    readonly pid: number,
    public ppid: number,
    /** open fds; shared with threads, and with processes cloned with CLONE_FILES */
    public fds: FdTable,
  ) {}

  /** proc.exe: argv[0] as given */
  get exe(): string {
    return this.argv[0] ?? "";
  }

  private cmdArgv: readonly string[] | null = null;
  private cmdComm = "";
  private cmdArgs = "";
  private cmd = "";

  /** proc.args: the arguments after argv[0], separated by spaces (joined once per image). */
  get args(): string {
    this.joinArgs();
    return this.cmdArgs;
  }

  /** proc.cmdline: the name followed by the arguments. */
  get cmdline(): string {
    this.joinArgs();
    return this.cmd;
  }

  private joinArgs(): void {
    if (this.cmdArgv === this.argv && this.cmdComm === this.comm) return;
    let a = "";
    for (let i = 1; i < this.argv.length; i++) a += i === 1 ? this.argv[i] : ` ${this.argv[i]}`;
    this.cmdArgs = a;
    this.cmd = a === "" ? this.comm : `${this.comm} ${a}`;
    this.cmdArgv = this.argv;
    this.cmdComm = this.comm;
  }
  get isExeFromMemfd(): boolean {
    return (this.exeFlags & LN_CONST.LN_C_PF_EXE_MEMFD) !== 0;
  }
  get isExeUpperLayer(): boolean {
    return (this.exeFlags & LN_CONST.LN_C_PF_EXE_UPPER) !== 0;
  }
  get isExeLowerLayer(): boolean {
    return (this.exeFlags & LN_CONST.LN_C_PF_EXE_LOWER) !== 0;
  }
  get isExeWritable(): boolean {
    return (this.exeFlags & LN_CONST.LN_C_PF_EXE_WRITABLE) !== 0;
  }
}

export interface ProcessTableOptions {
  maxEntries?: number;
  maxThreads?: number;
  /** how long (ms) an exited process stays for late events */
  exitGraceMs?: number;
  /** /proc root (tests) */
  procRoot?: string;
  /** read fds from /proc when seeding a process (default true) */
  seedFds?: boolean;
  /** how often (ms) purge() checks /proc for processes whose exit record was lost; 0 = never */
  sweepMs?: number;
}

export interface ProcessTableStats {
  size: number;
  threads: number;
  evictions: number;
  threadEvictions: number;
  /** processes that vanished (or were unreadable) while /proc was read */
  seedErrors: number;
  purged: number;
  /** processes read from /proc on first sight (started before attach, or missed) */
  lazyReads: number;
  /** processes found gone from /proc without an exit record (lost records) */
  swept: number;
}

/** How long a pid that could not be read from /proc is not retried (ms). */
const MISS_TTL_MS = 2000;
const MAX_MISSES = 4096;

export class ProcessTable {
  readonly threads: ThreadTable;
  /**
   * True when syscall records keep the fd tables current (a State owns this table). A bare
   * ProcessTable only sees lifecycle records: its fd tables are the /proc seed and fork
   * copies, too stale to name an event's fd, and renderers must not use them.
   */
  fdsTracked = false;
  readonly reader: ProcReader;
  private readonly procs = new Map<number, ProcessInfo>();
  /** exited processes in exit order (purge and eviction take from the head) */
  private exited: ProcessInfo[] = [];
  private exitedHead = 0;
  private readonly misses = new Map<number, number>();
  private readonly max: number;
  private readonly grace: number;
  private readonly seedFds: boolean;
  private evictions = 0;
  private seedErrors = 0;
  private purged = 0;
  private lazyReads = 0;
  private swept = 0;
  private lastSweepMs = 0;
  private readonly sweepMs: number;

  constructor(opts: ProcessTableOptions = {}) {
    this.max = opts.maxEntries ?? 65536;
    this.grace = opts.exitGraceMs ?? 5000;
    this.seedFds = opts.seedFds ?? true;
    this.sweepMs = opts.sweepMs ?? 60_000;
    this.reader = new ProcReader(opts.procRoot ?? "/proc");
    this.threads = new ThreadTable(opts.maxThreads ?? 131072);
  }

  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }

  get size(): number {
    return this.procs.size;
  }

  /** Every entry, exited ones included (not for the event path). */
  values(): IterableIterator<ProcessInfo> {
    return this.procs.values();
  }

  /** Looks a pid up, reading /proc once for processes that started before we did. */
  lookup(pid: number): ProcessInfo | undefined {
    const p = this.procs.get(pid);
    if (p !== undefined || pid <= 0) return p;
    return this.readLazily(pid);
  }

  /** The n-th ancestor (1 = parent), or undefined past the known chain. No allocation. */
  ancestor(p: ProcessInfo, n: number): ProcessInfo | undefined {
    let cur: ProcessInfo | undefined = p;
    for (let i = 0; i < n && cur !== undefined; i++) {
      const ppid: number = cur.ppid;
      if (ppid <= 0 || ppid === cur.pid) return undefined;
      cur = this.lookup(ppid);
    }
    return cur;
  }

  stats(): ProcessTableStats {
    const t = this.threads.stats();
    return {
      size: this.procs.size,
      threads: t.size,
      evictions: this.evictions,
      threadEvictions: t.evictions,
      seedErrors: this.seedErrors,
      purged: this.purged,
      lazyReads: this.lazyReads,
      swept: this.swept,
    };
  }

  /** Reads every live process from /proc. Vanishing processes are counted, never fatal. */
  seed(): number {
    let n = 0;
    for (const pid of this.reader.listPids()) {
      if (this.procs.has(pid)) continue;
      if (this.readProc(pid) !== undefined) n++;
    }
    this.reader.clearNetCache();
    return n;
  }

  /**
   * seed() in slices of `sliceMs`, yielding to the event loop between slices so the ring
   * keeps being drained on nodes with many processes (~0.7 ms per process here). Records
   * of processes not read yet are served by the lazy read; the seed then skips them.
   */
  async seedAsync(sliceMs = 20): Promise<number> {
    let n = 0;
    const pids = this.reader.listPids();
    let i = 0;
    while (i < pids.length) {
      const until = performance.now() + sliceMs;
      do {
        const pid = pids[i++]!;
        if (!this.procs.has(pid) && this.readProc(pid) !== undefined) n++;
      } while (i < pids.length && performance.now() < until);
      if (i < pids.length) await new Promise<void>((r) => setImmediate(r));
    }
    this.reader.clearNetCache();
    return n;
  }

  private readLazily(pid: number): ProcessInfo | undefined {
    const missed = this.misses.get(pid);
    const now = Date.now();
    if (missed !== undefined && now - missed < MISS_TTL_MS) return undefined;
    const p = this.readProc(pid);
    if (p === undefined) {
      if (this.misses.size >= MAX_MISSES) this.misses.clear();
      this.misses.set(pid, now);
      return undefined;
    }
    this.misses.delete(pid);
    this.lazyReads++;
    return p;
  }

  /** Reads one process (and its threads and fds) from /proc into the table. */
  private readProc(pid: number): ProcessInfo | undefined {
    const s = this.reader.readProcess(pid);
    if (s === null) {
      this.seedErrors++;
      return undefined;
    }
    const fds = (this.seedFds ? this.reader.readFds(pid) : null) ?? new FdTable();
    const p = new ProcessInfo(pid, s.ppid, fds);
    fromSnapshot(p, s);
    this.insert(p);
    this.threads.set(new ThreadInfo(pid, pid, s.vpid, s.capEffective, s.capPermitted));
    if (s.nthreads > 1) {
      for (const tid of this.reader.listTids(pid)) {
        if (tid === pid) continue;
        const t = this.reader.readThread(pid, tid);
        if (t !== null) this.threads.set(new ThreadInfo(tid, pid, t.vtid, t.capEffective, t.capPermitted));
      }
    }
    return p;
  }

  private insert(p: ProcessInfo): void {
    if (this.procs.size >= this.max && !this.procs.has(p.pid)) this.evictOne();
    this.procs.set(p.pid, p);
  }

  private evictOne(): void {
    // The oldest exited process first; else the oldest insertion (Map keeps insertion order).
    while (this.exitedHead < this.exited.length) {
      const e = this.exited[this.exitedHead++]!;
      if (this.procs.get(e.pid) === e) {
        this.procs.delete(e.pid);
        this.evictions++;
        this.compactExited();
        return;
      }
    }
    const first = this.procs.keys().next();
    if (!first.done) {
      this.procs.delete(first.value);
      this.evictions++;
    }
  }

  private compactExited(): void {
    if (this.exitedHead > 1024 && this.exitedHead * 2 > this.exited.length) {
      this.exited = this.exited.slice(this.exitedHead);
      this.exitedHead = 0;
    }
  }

  /** Applies a lifecycle record from the kernel. */
  apply(ev: ProcEvent, nowMs: number): void {
    switch (ev.kind) {
      case "fork":
        this.onFork(ev);
        return;
      case "exec":
        this.onExec(ev);
        return;
      case "exit":
        this.onExit(ev, nowMs);
        return;
    }
  }

  private onFork(ev: ProcEvent): void {
    const childTid = ev.exitCode || ev.childTgid;
    if (ev.flags & PF_THREAD) {
      // a new thread of an existing process: same fds, its own tid and capabilities
      const p = this.lookup(ev.childTgid || ev.tgid);
      if (p !== undefined && this.threads.get(childTid) === undefined) p.nthreads++;
      this.threads.set(
        new ThreadInfo(childTid, ev.childTgid || ev.tgid, ev.vtid, ev.capEffective, ev.capPermitted),
      );
      return;
    }
    const child = ev.childTgid || childTid;
    // The forking process's table is copied (the header names the forker; ppid is the real
    // parent, which differs for CLONE_PARENT). CLONE_FILES sharing is fixed up from the
    // clone syscall record, which follows.
    const forker = this.lookup(ev.tgid);
    const p = new ProcessInfo(child, ev.ppid || ev.tgid, forker ? forker.fds.copy() : new FdTable());
    if (forker !== undefined) {
      p.argv = forker.argv;
      p.exepath = forker.exepath;
      p.cwd = forker.cwd;
      p.exeFlags = forker.exeFlags;
      p.env = forker.env;
      p.exeIno = forker.exeIno;
      p.exeCtimeNs = forker.exeCtimeNs;
      p.exeMtimeNs = forker.exeMtimeNs;
    }
    fromRecord(p, ev);
    p.nthreads = 1;
    this.insert(p);
    this.misses.delete(child);
    this.threads.set(new ThreadInfo(childTid, child, ev.vtid, ev.capEffective, ev.capPermitted));
  }

  private onExec(ev: ProcEvent): void {
    let p = this.procs.get(ev.tgid);
    let fresh = false;
    if (p === undefined || p.exitedAt !== 0) {
      // Unknown: read it now (the /proc view is already post-exec: no close-on-exec pass).
      p = this.readLazily(ev.tgid);
      fresh = true;
      if (p === undefined) {
        p = new ProcessInfo(ev.tgid, ev.ppid, new FdTable());
        this.insert(p);
      }
    }
    if (!fresh) p.fds.closeOnExec();
    p.ppid = ev.ppid;
    fromRecord(p, ev);
    if (ev.argv !== null) p.argv = ev.argv;
    if (ev.exe !== null) p.exepath = exePath(ev.exe, ev.flags);
    if (ev.cwd !== null) p.cwd = ev.cwd;
    p.exeFlags = ev.flags & EXE_FLAGS;
    p.env = ev.env === null ? NO_ENV : this.internEnv(ev.env);
    p.exeIno = ev.exeIno;
    p.exeCtimeNs = ev.exeCtimeNs;
    p.exeMtimeNs = ev.exeMtimeNs;
    // A non-leader thread that exec'd took over the leader's tid; the others are killed
    // (their exit records follow).
    const oldTid = ev.exitCode;
    if (oldTid !== 0 && oldTid !== ev.tgid) this.threads.delete(oldTid);
    this.threads.set(new ThreadInfo(ev.tgid, ev.tgid, ev.vtid, ev.capEffective, ev.capPermitted));
  }

  private onExit(ev: ProcEvent, nowMs: number): void {
    const p = this.procs.get(ev.tgid);
    if (this.threads.delete(ev.tid) && p !== undefined && p.nthreads > 1) p.nthreads--;
    if ((ev.flags & PF_GROUP_DEAD) === 0) return; // a thread exited, the process lives on
    if (p === undefined || p.exitedAt !== 0) return;
    p.exitedAt = nowMs || 1;
    p.nthreads = 0;
    this.exited.push(p);
  }

  /** Identical environments (most execs of a workload) share one array: the decoder's. */
  private internEnv(env: readonly string[]): readonly string[] {
    return env.length === 0 ? NO_ENV : env;
  }

  /** Updates the cwd after a successful chdir/fchdir. */
  setCwd(pid: number, cwd: string): void {
    const p = this.procs.get(pid);
    if (p) p.cwd = cwd;
  }

  /**
   * Drops processes that exited more than the grace period ago, and re-parents their
   * surviving children from /proc. Returns how many were dropped.
   */
  purge(nowMs: number): number {
    let n = 0;
    let gone: Set<number> | null = null;
    while (this.exitedHead < this.exited.length) {
      const e = this.exited[this.exitedHead]!;
      if (nowMs - e.exitedAt <= this.grace) break;
      this.exitedHead++;
      if (this.procs.get(e.pid) !== e) continue; // evicted, or the pid was reused
      this.procs.delete(e.pid);
      (gone ??= new Set()).add(e.pid);
      n++;
    }
    this.compactExited();
    this.sweep(nowMs);
    if (gone !== null) {
      this.threads.deleteOfProcesses(gone);
      for (const p of this.procs.values()) {
        if (p.exitedAt === 0 && gone.has(p.ppid)) {
          const s = this.reader.readProcess(p.pid);
          if (s !== null) p.ppid = s.ppid;
        }
      }
    }
    this.purged += n;
    return n;
  }

  /**
   * Every `sweepMs`, live entries whose /proc/PID is gone are marked exited (their exit
   * record was lost to a full ring), so the normal purge drops them. Counted.
   */
  private sweep(nowMs: number): void {
    if (this.lastSweepMs === 0) this.lastSweepMs = nowMs;
    if (this.sweepMs <= 0 || nowMs - this.lastSweepMs < this.sweepMs) return;
    this.lastSweepMs = nowMs;
    for (const p of this.procs.values()) {
      if (p.exitedAt === 0 && !this.reader.exists(p.pid)) {
        p.exitedAt = nowMs;
        this.exited.push(p);
        this.swept++;
      }
    }
  }
}

/**
 * proc.exepath as Falco reports it: a memfd's is its name, `memfd:NAME`, not the path the
 * kernel prints for it (`/memfd:NAME (deleted)`); Falco's own rules compare with the former.
 */
export function exePath(path: string, flags: number): string {
  if ((flags & LN_CONST.LN_C_PF_EXE_MEMFD) === 0 || !path.startsWith("/memfd:")) return path;
  const p = path.slice(1);
  return p.endsWith(" (deleted)") ? p.slice(0, -" (deleted)".length) : p;
}

function fromSnapshot(p: ProcessInfo, s: ProcSnapshot): void {
  p.vpid = s.vpid;
  p.comm = s.comm;
  p.argv = s.argv;
  p.exepath = exePath(s.exepath, s.exeFlags);
  p.exeFlags = s.exeFlags;
  p.cwd = s.cwd;
  p.uid = s.euid;
  p.gid = s.egid;
  p.loginuid = s.loginuid;
  p.sid = s.sid;
  p.vpgid = s.vpgid;
  p.pgid = s.pgid;
  p.tty = s.tty;
  p.startNs = s.startNs;
  p.nthreads = s.nthreads;
  p.env = s.env;
  p.exeIno = s.exeIno;
  p.exeCtimeNs = s.exeCtimeNs;
  p.exeMtimeNs = s.exeMtimeNs;
  p.pidns = s.pidns;
  p.pidnsInitStartNs = s.pidnsInitStartNs;
}

function fromRecord(p: ProcessInfo, ev: ProcEvent): void {
  p.vpid = ev.vpid;
  p.comm = ev.comm;
  p.uid = ev.euid;
  p.gid = ev.egid;
  p.loginuid = ev.loginuid;
  p.sid = ev.sid;
  p.vpgid = ev.vpgid;
  p.pgid = ev.pgid;
  p.tty = ev.tty;
  if (ev.startNs !== 0n) p.startNs = ev.startNs;
  if (ev.pidnsInitStartNs !== 0n) p.pidnsInitStartNs = ev.pidnsInitStartNs;
  p.cgroupId = ev.cgroupId;
  p.pidns = ev.pidns;
  p.netns = ev.netns;
  p.mntns = ev.mntns;
}
