/**
 * The process table: one entry per live process (thread group), seeded from /proc at start
 * and kept current from the kernel's fork/exec/exit records. Bounded: when full, the oldest
 * exited entries go first, then the least recently started; evictions are counted.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { LN_CONST } from "../capture/abi.generated.js";
import type { ProcEvent } from "../decode/event.js";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** proc.name: the comm (task name, 15 chars) */
  comm: string;
  /** proc.exepath: absolute path of the executable */
  exepath: string;
  /** argv[0..] as executed */
  argv: readonly string[];
  cwd: string;
  uid: number;
  gid: number;
  loginuid: number;
  /** boot-time ns when the process started (0 when unknown) */
  startNs: bigint;
  cgroupId: bigint;
  /** set when the exit record arrived; purged after the grace period */
  exitedAt: number;
}

export interface ProcessTableOptions {
  maxEntries?: number;
  /** how long (ms) an exited process stays for late events */
  exitGraceMs?: number;
  /** /proc root (tests) */
  procRoot?: string;
}

export interface ProcessTableStats {
  size: number;
  evictions: number;
  seedErrors: number;
  purged: number;
}

export class ProcessTable {
  private readonly procs = new Map<number, ProcessInfo>();
  private readonly max: number;
  private readonly grace: number;
  private readonly procRoot: string;
  private evictions = 0;
  private seedErrors = 0;
  private purged = 0;

  constructor(opts: ProcessTableOptions = {}) {
    this.max = opts.maxEntries ?? 65536;
    this.grace = opts.exitGraceMs ?? 5000;
    this.procRoot = opts.procRoot ?? "/proc";
  }

  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }

  /** Looks a pid up, reading /proc once for processes that started before we did. */
  lookup(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid) ?? this.readProc(pid);
  }

  stats(): ProcessTableStats {
    return { size: this.procs.size, evictions: this.evictions, seedErrors: this.seedErrors, purged: this.purged };
  }

  /** Reads every live process from /proc. Vanishing processes are counted, never fatal. */
  seed(): void {
    let names: string[];
    try {
      names = readdirSync(this.procRoot);
    } catch {
      this.seedErrors++;
      return;
    }
    for (const n of names) {
      const pid = Number(n);
      if (Number.isInteger(pid) && pid > 0 && !this.procs.has(pid)) this.readProc(pid);
    }
  }

  private readProc(pid: number): ProcessInfo | undefined {
    const dir = `${this.procRoot}/${pid}`;
    try {
      const status = readFileSync(`${dir}/status`, "latin1");
      const field = (k: string): string => {
        const m = new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status);
        return m?.[1] ?? "";
      };
      const cmdline = readFileSync(`${dir}/cmdline`);
      const argv = cmdline.length ? cmdline.toString("utf8").replace(/\0$/, "").split("\0") : [];
      let exepath = "";
      let cwd = "";
      try {
        exepath = readlinkSync(`${dir}/exe`);
      } catch {
        // kernel threads have no exe
      }
      try {
        cwd = readlinkSync(`${dir}/cwd`);
      } catch {
        // permission or race
      }
      let loginuid = 0xffffffff;
      try {
        loginuid = Number(readFileSync(`${dir}/loginuid`, "latin1").trim());
      } catch {
        // no audit
      }
      const uids = field("Uid").split(/\s+/);
      const gids = field("Gid").split(/\s+/);
      const info: ProcessInfo = {
        pid,
        ppid: Number(field("PPid")) || 0,
        comm: field("Name"),
        exepath,
        argv,
        cwd,
        uid: Number(uids[1] ?? 0),
        gid: Number(gids[1] ?? 0),
        loginuid,
        startNs: 0n,
        cgroupId: 0n,
        exitedAt: 0,
      };
      this.insert(info);
      return info;
    } catch {
      this.seedErrors++;
      return undefined;
    }
  }

  private insert(info: ProcessInfo): void {
    if (!this.procs.has(info.pid) && this.procs.size >= this.max) this.evictOne();
    this.procs.set(info.pid, info);
  }

  private evictOne(): void {
    // Prefer an exited process; else the oldest insertion (Map keeps insertion order).
    for (const [pid, p] of this.procs) {
      if (p.exitedAt !== 0) {
        this.procs.delete(pid);
        this.evictions++;
        return;
      }
    }
    const first = this.procs.keys().next();
    if (!first.done) {
      this.procs.delete(first.value);
      this.evictions++;
    }
  }

  /** Applies a lifecycle record from the kernel. */
  apply(ev: ProcEvent, nowMs: number): void {
    switch (ev.kind) {
      case "fork": {
        if (ev.flags & LN_CONST.LN_C_PF_THREAD) return; // a new thread: same process
        const child = ev.childTgid || ev.tgid;
        const parent = this.procs.get(ev.tgid);
        this.insert({
          pid: child,
          ppid: ev.tgid,
          comm: ev.comm,
          exepath: parent?.exepath ?? "",
          argv: parent?.argv ?? [],
          cwd: parent?.cwd ?? "",
          uid: ev.euid,
          gid: ev.egid,
          loginuid: ev.loginuid,
          startNs: ev.startNs,
          cgroupId: ev.cgroupId,
          exitedAt: 0,
        });
        return;
      }
      case "exec": {
        const prev = this.procs.get(ev.tgid);
        this.insert({
          pid: ev.tgid,
          ppid: ev.ppid,
          comm: ev.comm,
          exepath: ev.exe ?? prev?.exepath ?? "",
          argv: ev.argv ?? prev?.argv ?? [],
          cwd: ev.cwd ?? prev?.cwd ?? "",
          uid: ev.euid,
          gid: ev.egid,
          loginuid: ev.loginuid,
          startNs: ev.startNs,
          cgroupId: ev.cgroupId,
          exitedAt: 0,
        });
        return;
      }
      case "exit": {
        if ((ev.flags & LN_CONST.LN_C_PF_GROUP_DEAD) === 0) return; // a thread exited, the process lives on
        const p = this.procs.get(ev.tgid);
        if (p) p.exitedAt = nowMs;
        return;
      }
    }
  }

  /** Updates the cwd after a successful chdir/fchdir. */
  setCwd(pid: number, cwd: string): void {
    const p = this.procs.get(pid);
    if (p) p.cwd = cwd;
  }

  /** Drops processes that exited more than the grace period ago. */
  purge(nowMs: number): number {
    let n = 0;
    for (const [pid, p] of this.procs) {
      if (p.exitedAt !== 0 && nowMs - p.exitedAt > this.grace) {
        this.procs.delete(pid);
        n++;
      }
    }
    this.purged += n;
    return n;
  }
}
