/**
 * What top process reads each interval: the processes of the cgroups the selection keeps
 * (cgroup v2's cgroup.procs, walked from the root, so each process comes with its cgroup id
 * and the cgroups the selection drops cost one stat and no /proc reads), then per process
 * /proc/PID/stat (CPU time: user + system of every thread; threads, state, parent, name) and
 * /proc/PID/statm (virtual and resident size). CPU percent is the CPU time a process used since
 * the previous scan over the time between the two reads.
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { findCgroup2Mount } from "../../state/containers/cgroup-resolver.js";

/** One process in one scan. */
export interface ProcSample {
  readonly pid: number;
  /** undefined without a cgroup v2 hierarchy (the container is then found by pid) */
  readonly cgroupId: bigint | undefined;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly threads: number;
  /** KiB */
  readonly vmsizeKiB: number;
  /** KiB */
  readonly rssKiB: number;
  /** percent of one CPU since the previous scan; null without a previous reading */
  readonly cpu: number | null;
}

export interface ScanResult {
  readonly samples: ProcSample[];
  /** boot-time ns of the scan */
  readonly bootNs: number;
  /** cgroup directories walked, and those skipped because the selection drops them */
  readonly cgroups: number;
  readonly skippedCgroups: number;
}

interface Previous {
  readonly start: number;
  readonly ticks: number;
  /** boot-time ms of the reading */
  readonly atMs: number;
}

let sysconf: { clkTck: number; pageKiB: number } | null = null;

/** USER_HZ and the page size (getconf: Node has no sysconf). */
export function procUnits(): { clkTck: number; pageKiB: number } {
  if (sysconf === null) {
    const get = (name: string, fallback: number): number => {
      try {
        const n = Number(execFileSync("getconf", [name], { encoding: "utf8", timeout: 5000 }).trim());
        return Number.isFinite(n) && n > 0 ? n : fallback;
      } catch {
        return fallback;
      }
    };
    sysconf = { clkTck: get("CLK_TCK", 100), pageKiB: get("PAGESIZE", 4096) / 1024 };
  }
  return sysconf;
}

/** The fields of /proc/PID/stat that top process reads, or null when it is not one. */
export interface StatFields {
  comm: string;
  state: string;
  ppid: number;
  /** utime + stime, clock ticks */
  ticks: number;
  threads: number;
  /** start time, clock ticks after boot */
  start: number;
}

/** The fields of /proc/PID/stat that top process reads, or null when it is not one. */
export function parseStat(text: string): StatFields | null {
  // the name is in parentheses and may hold anything: the fields start after the last ')'
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  // field 3 (state) starts at close + 2; only fields 3 to 22 are read (no split of the rest)
  const want = [4, 14, 15, 20, 22];
  const got: number[] = [];
  let field = 3;
  let at = close + 2;
  let state = "";
  while (field <= 22 && at < text.length) {
    let end = text.indexOf(" ", at);
    if (end < 0) end = text.length;
    if (field === 3) state = text.slice(at, end);
    else if (want.includes(field)) got.push(Number(text.slice(at, end)));
    field++;
    at = end + 1;
  }
  if (field <= 22) return null;
  const [ppid = 0, utime = 0, stime = 0, threads = 0, start = 0] = got;
  return { comm: text.slice(open + 1, close), state, ppid, ticks: utime + stime, threads, start };
}

export class ProcSampler {
  private prev = new Map<number, Previous>();
  private lastScanMs = 0;
  private readonly root: string | null;
  private readonly units = procUnits();
  /** cgroup directory -> id, of the previous walk (a path keeps its id while it exists) */
  private ids = new Map<string, bigint>();
  /** one buffer for every /proc and cgroup file read */
  private readonly buf = Buffer.alloc(64 << 10);

  /** A small file's text (one read into the shared buffer), or null when it is gone. */
  private read(path: string): string | null {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    try {
      let n = 0;
      // cgroup.procs of a large cgroup may take several reads
      for (;;) {
        const got = readSync(fd, this.buf, n, this.buf.length - n, null);
        if (got <= 0) break;
        n += got;
        if (n === this.buf.length) return readFileSync(path, "latin1");
      }
      return this.buf.toString("latin1", 0, n);
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  constructor(
    private readonly procRoot = "/proc",
    cgroupRoot?: string | null,
    /** cgroup directories walked at most per scan */
    private readonly maxCgroups = 65536,
  ) {
    this.root =
      cgroupRoot !== undefined ? cgroupRoot : findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  }

  /**
   * One scan. `dropped(id)` says whether the selection drops cgroup `id`: its processes are
   * not read. `bootNowNs` is the boot-time clock now. Without a cgroup v2 hierarchy every
   * process is read.
   */
  scan(dropped: (cgroupId: bigint) => boolean, bootNowNs: () => number): ScanResult {
    const members = new Map<number, bigint | undefined>();
    let cgroups = 0;
    let skipped = 0;
    if (this.root === null) {
      // no cgroup v2: every process, its container found by pid
      for (const name of readdirSync(this.procRoot)) {
        const pid = Number(name);
        if (pid > 0) members.set(pid, undefined);
      }
    }
    const stack = this.root === null ? [] : [this.root];
    const ids = new Map<string, bigint>();
    while (stack.length > 0 && cgroups < this.maxCgroups) {
      const dir = stack.pop() as string;
      let id: bigint | undefined;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
        id = this.ids.get(dir) ?? statSync(dir, { bigint: true }).ino;
      } catch {
        continue; // removed meanwhile
      }
      ids.set(dir, id);
      cgroups++;
      for (const e of entries) if (e.isDirectory()) stack.push(`${dir}/${e.name}`);
      if (dropped(id)) {
        skipped++;
        continue;
      }
      const procs = this.read(`${dir}/cgroup.procs`);
      if (procs === null) continue;
      for (const line of procs.split("\n")) {
        const pid = Number(line);
        if (pid > 0) members.set(pid, id);
      }
    }
    this.ids = ids;
    const bootMs = bootNowNs() / 1e6;
    const t0 = performance.now();
    const { clkTck, pageKiB } = this.units;
    const next = new Map<number, Previous>();
    const samples: ProcSample[] = [];
    for (const [pid, cgroupId] of members) {
      const text = this.read(`${this.procRoot}/${pid}/stat`);
      if (text === null) continue; // gone
      const atMs = bootMs + (performance.now() - t0);
      const s = parseStat(text);
      if (s === null) continue;
      // sizes from statm: stat's resident size is the kernel's quick per-CPU estimate, which
      // lags by up to a batch of pages per CPU; statm's (and status') are exact
      const statm = this.read(`${this.procRoot}/${pid}/statm`);
      if (statm === null) continue; // gone
      const m = statm.split(" ");
      const vmsizeKiB = Number(m[0]) * pageKiB;
      const rssKiB = Number(m[1]) * pageKiB;
      const before = this.prev.get(pid);
      let cpu: number | null = null;
      if (before !== undefined && before.start === s.start) {
        const ms = atMs - before.atMs;
        if (ms > 0) cpu = ((s.ticks - before.ticks) / clkTck / (ms / 1000)) * 100;
      } else {
        // started since the previous scan: everything it used is this interval's
        const startMs = (s.start / clkTck) * 1000;
        if (this.lastScanMs > 0 && startMs >= this.lastScanMs && atMs > startMs)
          cpu = (s.ticks / clkTck / ((atMs - startMs) / 1000)) * 100;
      }
      next.set(pid, { start: s.start, ticks: s.ticks, atMs });
      samples.push({
        pid,
        cgroupId,
        comm: s.comm,
        state: s.state,
        ppid: s.ppid,
        threads: s.threads,
        vmsizeKiB,
        rssKiB,
        cpu: cpu === null ? null : Math.max(0, Math.round(cpu * 100) / 100),
      });
    }
    this.prev = next;
    this.lastScanMs = bootMs;
    return { samples, bootNs: bootMs * 1e6, cgroups, skippedCgroups: skipped };
  }
}
